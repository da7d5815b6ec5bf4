#!/usr/bin/env bash
# Runs the xgrad command as a user would and checks exit codes, messages and files.
#   cli_test.sh XGRAD_BINARY CASE      (CASE: train_spiral, evaluate, bad_input, determinism, kill_during_save,
#                                       outputs, help, full_disk, model)
# Exit status convention of the command (xgrad --help): 0 success, 1 a failure while running (data, I/O,
# numeric), 2 a command line that cannot be acted on.
# With XGRAD_RELIABILITY_ROWS set, bad_input appends one row per bad input to that file (the table of
# docs/reliability.md is generated from them by tests/reliability/table.sh).
set -uo pipefail
xgrad=$1
[[ $xgrad == /* ]] || xgrad=$PWD/$xgrad  # some checks run it from another directory
case_name=$2
tmp=$(mktemp -d)
mounted=""
cleanup() {
  [[ -n $mounted ]] && umount "$mounted" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
source "$(dirname "${BASH_SOURCE[0]}")/checks.sh"

# record NAME RC ARGS...: a row "cli.NAME, the command, exit RC, stderr, cli.bad_input" (the temporary
# directory shown as $TMP, lines joined with ⏎) when XGRAD_RELIABILITY_ROWS is set.
record() {
  [[ -n ${XGRAD_RELIABILITY_ROWS:-} ]] || return 0
  local name=$1 rc=$2
  shift 2
  local cmd="xgrad $*" msg
  cmd=${cmd//$'\e'/\\x1B}  # an escape byte typed into a test shows as \x1B, as the command shows it
  msg=$(sed -e ':a' -e 'N' -e '$!ba' -e 's/\n/ ⏎ /g' "$tmp/stderr")
  printf 'cli.%s\t`%s`\texit %s\t%s\tcli.bad_input\n' "$name" "${cmd//$tmp/\$TMP}" "$rc" "${msg//$tmp/\$TMP}" \
    >>"$XGRAD_RELIABILITY_ROWS"
}

# nothing_written NAME DIR: neither DIR nor a staging directory beside it (.NAME.xgrad-tmp-*) exists.
nothing_written() {
  local name=$1 out=$2
  check "$name: nothing written" bash -c "[[ ! -e '$out' ]] && ! compgen -G '$(dirname "$out")/.$(basename "$out").xgrad-tmp-*' >/dev/null"
}

# expect_usage_error NAME PATTERN ARGS...: exit 2 with --out DIR added, and nothing written.
expect_usage_error() {
  local name=$1 pattern=$2
  shift 2
  local out="$tmp/out-$name"
  expect_error "$name" 2 "$pattern" "$@" --out "$out"
  nothing_written "$name" "$out"
}

# expect_run_error NAME PATTERN ARGS...: exit 1 with --out DIR added, and nothing written.
expect_run_error() {
  local name=$1 pattern=$2
  shift 2
  local out="$tmp/out-$name"
  expect_error "$name" 1 "$pattern" "$@" --out "$out"
  nothing_written "$name" "$out"
}

# no_temporaries DIR...: no write_atomically temporary (*.tmp-*) and no staging directory (.*.xgrad-tmp-*) in
# any DIR.
no_temporaries() {
  [[ -z $(find "$@" -maxdepth 1 \( -name '*.tmp-*' -o -name '.*.xgrad-tmp-*' \) -print -quit) ]]
}

# consistent_set DIR: every file model.json's manifest names has the recorded SHA-256, and DIR holds
# nothing else of xgrad train's (the set of one run).
consistent_set() {
  local dir=$1
  /usr/bin/python3 - "$dir" <<'PY'
import json, os, sys, zlib
d = sys.argv[1]
m = json.load(open(os.path.join(d, "model.json")))
for name, f in m["files"].items():
    data = open(os.path.join(d, name), "rb").read()
    assert len(data) == f["bytes"] and "%08x" % zlib.crc32(data) == f["crc32"], name
ours = {"model.npz", "model.json", "history.csv", "training.svg", "boundary.svg", "resume.npz"}
present = ours & set(os.listdir(d))
assert present == set(m["files"]) | {"model.json"}, (present, list(m["files"]))
PY
}

accuracy_of() { grep -oE 'test accuracy [0-9.]+' "$1" | awk '{print $3}'; }

case $case_name in
  train_spiral)
    "$xgrad" train --dataset spiral --epochs 60 --out "$tmp/spiral" >"$tmp/log" 2>&1
    check "train exits 0" test $? -eq 0
    acc=$(accuracy_of "$tmp/log")
    echo "spiral test accuracy after 60 epochs: ${acc:-none}%"
    check "test accuracy ≥ 90% (got ${acc:-none})" awk -v a="${acc:-0}" 'BEGIN { exit !(a >= 90) }'
    for f in model.npz model.json training.svg history.csv; do check "wrote $f" test -s "$tmp/spiral/$f"; done
    check "no temporary files left" no_temporaries "$tmp/spiral" "$tmp"
    check "plain progress lines when not a terminal" grep -qE '^epoch +60/60 ' "$tmp/log"
    check "the chart is SVG with 4 polylines" bash -c "grep -c '<polyline' '$tmp/spiral/training.svg' | grep -qx 4"
    check "history has 60 epochs" bash -c "test \$(wc -l < '$tmp/spiral/history.csv') -eq 61"
    if /usr/bin/python3 -c 'import numpy' 2>/dev/null; then
      check "numpy.load opens the checkpoint" /usr/bin/python3 -c "
import numpy as np, sys
d = np.load('$tmp/spiral/model.npz')
assert sorted(d.files) == ['0.bias', '0.weight', '2.bias', '2.weight', '4.bias', '4.weight'], d.files
assert d['0.weight'].shape == (64, 2) and d['4.bias'].shape == (2, 1) and d['0.weight'].dtype == np.float32
"
    else
      echo "skipped: numpy not importable by /usr/bin/python3"
    fi
    ;;
  evaluate)
    "$xgrad" train --dataset circle --epochs 30 --seed 4 --out "$tmp/c" >"$tmp/log" 2>&1
    check "train exits 0" test $? -eq 0
    "$xgrad" evaluate "$tmp/c/model.npz" >"$tmp/eval" 2>&1
    check "evaluate exits 0" test $? -eq 0
    a1=$(accuracy_of "$tmp/log")
    a2=$(grep -oE 'accuracy [0-9.]+%' "$tmp/eval" | head -n 1 | grep -oE '[0-9.]+')
    check "evaluate reproduces the training run's test accuracy ($a1 vs $a2)" test "$a1" = "$a2"
    check "evaluate prints a confusion matrix" grep -q 'predicted' "$tmp/eval"
    cp "$tmp/c/model.npz" "$tmp/c/copy.npz"
    "$xgrad" evaluate "$tmp/c/copy.npz" >"$tmp/e2" 2>&1
    check "evaluate without model.json beside it fails clearly" bash -c "[[ \$? -ne 0 ]] || true; grep -q 'copy.json: missing' '$tmp/e2'"
    head -c 100 "$tmp/c/model.npz" >"$tmp/c/model2.npz"
    cp "$tmp/c/model.json" "$tmp/c/model2.json"
    "$xgrad" evaluate "$tmp/c/model2.npz" >"$tmp/e3" 2>&1
    rc=$?
    check "a truncated checkpoint is an error, not a crash (exit $rc)" test $rc -eq 1
    check "  … naming the file" grep -q 'model2.npz' "$tmp/e3"
    # Many classes: above 20 the confusion matrix is summarized (weakest and strongest classes, most
    # frequent confusions), not printed as a classes × classes table.
    { echo 'a,b,label'; for i in $(seq 0 249); do echo "$((i % 25)).$((i % 7)),$((i * 7 % 25)).$((i % 3)),$((i % 25))"; done; } >"$tmp/many.csv"
    "$xgrad" train --dataset "csv:$tmp/many.csv" --layers 16 --epochs 2 --out "$tmp/many" --progress none >"$tmp/log" 2>&1
    check "train on 25 classes exits 0" test $? -eq 0
    check "  … says it summarizes the 25×25 matrix" grep -q '25 classes: more than 20, so instead of the 25×25 table, a summary' "$tmp/log"
    check "  … lists the weakest and strongest classes" bash -c "grep -q '^weakest 5 classes' '$tmp/log' && grep -q '^strongest 5 classes' '$tmp/log'"
    check "  … and the most frequent confusions" grep -qE '^most frequent confusions \(true → predicted: examples\), [0-9]+ of [0-9]+:' "$tmp/log"
    check "  … and no 25-column table" bash -c "! grep -q 'predicted →\$' '$tmp/log'"
    check "  … in at most 40 lines" test "$(wc -l <"$tmp/log")" -le 40
    "$xgrad" evaluate "$tmp/many/model.npz" >"$tmp/eval" 2>&1
    check "evaluate on 25 classes: the same summary" grep -q '25 classes: more than 20' "$tmp/eval"
    ;;
  bad_input)
    # Usage errors (exit 2): the command line cannot be acted on. Nothing is written.
    expect_usage_error unknown_flag 'not expected: --bogus' train --bogus
    expect_usage_error negative_epochs 'epochs must be at least 1, not -1' train --dataset xor --epochs -1
    expect_usage_error zero_batch 'batch must be at least 1, not 0' train --dataset xor --batch 0
    expect_usage_error negative_batch 'batch must be at least 1, not -1' train --dataset xor --batch -1
    expect_usage_error zero_lr 'lr must be a positive number' train --dataset xor --lr 0
    expect_usage_error negative_lr 'lr must be a positive number' train --dataset xor --lr -0.5
    expect_usage_error nan_lr "--lr: 'nan' is not a number" train --dataset xor --lr nan
    expect_usage_error bad_activation 'activation: gelu not in' train --dataset xor --activation gelu
    expect_usage_error bad_optimizer 'optimizer: lbfgs not in' train --dataset xor --optimizer lbfgs
    expect_usage_error bad_dataset "unknown data set 'nope'" train --dataset nope
    expect_usage_error bad_layers "'x' is not a positive layer size" train --dataset xor --layers 12,x
    expect_usage_error zero_layer "'0' is not a positive layer size" train --dataset xor --layers 0
    expect_usage_error zero_threads 'threads must be at least 1, not 0' train --dataset xor --threads 0
    expect_usage_error mnist_without_data 'needs --data DIR' train --dataset mnist
    expect_usage_error missing_data_dir 'not a directory' train --dataset fashion-mnist --data "$tmp/nowhere"
    expect_usage_error csv_missing 'none.csv: no such file' train --dataset "csv:$tmp/none.csv" --epochs 1
    expect_usage_error no_subcommand 'A subcommand is required'
    expect_usage_error unknown_subcommand "unknown subcommand 'bogus'" bogus
    # Every numeric flag is parsed strictly (no CLI11 "Could not convert", no exit 104–114).
    expect_usage_error epochs_not_a_number "--epochs: 'abc' is not a whole number" train --dataset xor --epochs abc
    expect_usage_error epochs_overflow 'epochs must be at most 2147483647, not 99999999999' train --dataset xor --epochs 99999999999
    expect_usage_error epochs_hex "--epochs: '0x10' is not a whole number" train --dataset xor --epochs 0x10
    expect_usage_error epochs_blank "--epochs: ' 3' is not a whole number" train --dataset xor --epochs ' 3'
    expect_usage_error epochs_two_signs "--epochs: '\+-5' is not a whole number" train --dataset xor --epochs +-5
    expect_usage_error lr_not_a_number "--lr: 'abc' is not a number" train --dataset xor --lr abc
    expect_usage_error lr_two_signs "--lr: '\+-0.5' is not a number" train --dataset xor --lr +-0.5
    expect_usage_error lr_hex "--lr: '0x1p-3' is not a number" train --dataset xor --lr 0x1p-3
    expect_usage_error infinite_lr "--lr: 'inf' is not a number" train --dataset xor --lr inf
    expect_usage_error lr_zero_in_float 'lr 1e-50 is 0 in single precision' train --dataset xor --lr 1e-50
    expect_usage_error lr_infinite_in_float 'lr 1e39 is infinite in single precision' train --dataset xor --lr 1e39
    expect_usage_error seed_too_large 'seed must be at most 18446744073709551615' train --dataset xor --seed 18446744073709551616
    expect_usage_error seed_negative 'seed must be a whole number from 0 to 18446744073709551615, not -1' train --dataset xor --seed -1
    expect_usage_error seed_two_signs "--seed: '\+-1' is not a whole number" train --dataset xor --seed +-1
    expect_usage_error bad_progress 'progress: sometimes not in' train --dataset xor --progress sometimes
    expect_usage_error empty_layer "'' is not a positive layer size" train --dataset xor --layers 8,,8
    expect_usage_error csv_without_path "needs a path after 'csv:'" train --dataset csv:
    # A model that cannot be trained: refused with its parameter count before the data is read (it used to
    # die in std::bad_alloc); 10^12 parameters exceed what a model.npz can hold on any machine.
    expect_usage_error huge_model 'hidden layers 1000000-1000000 alone have [0-9]+ parameters; too many for a model.npz, which holds at most [0-9]+ \(4 GiB\)' \
      train --dataset xor --layers 1000000,1000000
    check "huge_model: no std::bad_alloc" bash -c "! grep -q bad_alloc '$tmp/stderr'"
    # The memory a model needs is estimated from its sizes and compared with what the process may use,
    # including a ulimit: 2-20000-2 on a 2-D set needs ~1.4 GiB (the decision-region grid of 96² points at
    # once), refused under a 1 GB limit instead of dying in std::bad_alloc after training. (Not under
    # AddressSanitizer, which needs terabytes of address space.)
    # (ldd's whole output is read first: under pipefail, grep -q on a pipe can end ldd with SIGPIPE and make
    # the test fail at random.)
    if [[ $(ldd "$xgrad" 2>/dev/null) == *libasan* ]]; then
      echo "skipped under AddressSanitizer: the ulimit -v check"
    else
      (ulimit -v 1000000 && "$xgrad" train --dataset xor --layers 20000 --epochs 1 --out "$tmp/out-ulimit" >"$tmp/stdout" 2>"$tmp/stderr")
      rc=$?
      check "ulimit: a model beyond the process's memory limit is refused (exit $rc, expected 2)" test $rc -eq 2
      check "ulimit: … saying what it needs and what the process may use" \
        grep -qE 'the model 2-20000-2 has [0-9]+ parameters; it needs about [0-9.]+ GiB of memory .*more than the 976.6 MiB this process may use' "$tmp/stderr"
      nothing_written ulimit "$tmp/out-ulimit"
    fi
    # Non-printable bytes in what the user typed are shown escaped, not sent to the terminal.
    expect_usage_error escaped_dataset "unknown data set 'no\\\\x1B\[31mpe'" train --dataset $'no\e[31mpe'
    check "escaped_dataset: no escape byte reaches stderr" bash -c "! grep -q $'\e' '$tmp/stderr'"

    # Run failures (exit 1): the data cannot train a classifier. Checked before anything is written.
    printf 'x,y,label\n1,2,0\n3,nan,1\n' >"$tmp/nan.csv"
    expect_run_error csv_nan "nan.csv:3: column 2 \('y'\): 'nan' is not a number" train --dataset "csv:$tmp/nan.csv"
    printf 'x,y,label\n1,2,0\n3,1\n' >"$tmp/ragged.csv"
    expect_run_error csv_ragged 'ragged.csv:3: ragged row' train --dataset "csv:$tmp/ragged.csv"
    mkdir -p "$tmp/idx"
    printf 'not an IDX file at all' >"$tmp/idx/train-images-idx3-ubyte"
    printf 'not an IDX file at all' >"$tmp/idx/train-labels-idx1-ubyte"
    expect_run_error corrupt_idx 'not an IDX images file' train --dataset mnist --data "$tmp/idx"
    { echo 'a,b,label'; for i in 1 2 3 4 5 6 7 8; do echo "$i,$((i * 3 % 5)),0"; done; } >"$tmp/one_class.csv"
    expect_run_error single_class 'one_class.csv: a classifier needs examples of at least 2 classes, but every example has label 0' \
      train --dataset "csv:$tmp/one_class.csv"
    printf 'a,b,label\n1,2,0\n3,4,1\n' >"$tmp/two_rows.csv"
    expect_run_error two_rows 'two_rows.csv: too few examples: the split gives 2 training, 0 validation and 0 test' \
      train --dataset "csv:$tmp/two_rows.csv"
    printf 'a,b,label\n1,2,0\n3,4,1\n5,1,0\n2,2,1\n' >"$tmp/four_rows.csv"
    expect_run_error empty_validation 'four_rows.csv: too few examples: .* 0 validation' train --dataset "csv:$tmp/four_rows.csv"
    # One label 65535 among 0s and 1s made a 65536-class model (~34 GB and a 65536² confusion matrix).
    { echo 'a,b,label'; for i in $(seq 1 12); do echo "$i,$((i * 7 % 5)),$((i % 2))"; done; echo '3,3,65535'; } >"$tmp/label_65535.csv"
    expect_run_error label_65535 'label_65535.csv:14: label 65535 in column 3 .* makes 65536 classes, but 65533 of them have no example' \
      train --dataset "csv:$tmp/label_65535.csv"
    { echo 'a,b,label'; for i in $(seq 1 30); do echo "$i,$((i * 7 % 5)),$((i % 3))"; done; echo '3,3,5'; } >"$tmp/label_gap.csv"
    expect_run_error label_gap 'label_gap.csv:32: label 5 in column 3 .* makes 6 classes, but 2 of them have no example \(the first: 3\)' \
      train --dataset "csv:$tmp/label_gap.csv"

    # The output directory: checked before anything is trained.
    touch "$tmp/file"
    expect_error unwritable_out 2 'cannot create the directory' train --dataset xor --epochs 1 --out "$tmp/file/sub"
    check "unwritable --out: fails before training" bash -c "! grep -q '^epoch' '$tmp/stdout'"
    expect_error out_is_a_file 2 'cannot create the directory' train --dataset xor --epochs 1 --out "$tmp/file"
    check "--out is a file: the file is left alone" test -f "$tmp/file"
    mkdir -p "$tmp/papers" && echo 'my notes' >"$tmp/papers/notes.txt"
    expect_error out_holds_other_files 2 "already holds other files \(e.g. 'notes.txt'\) and no xgrad output" \
      train --dataset xor --epochs 1 --out "$tmp/papers"
    check "--out of other files: left alone" bash -c "[[ \$(ls -A '$tmp/papers') == notes.txt ]]"
    (cd "$tmp/papers" && "$xgrad" train --dataset xor --epochs 1 --out . >"$tmp/stdout" 2>"$tmp/stderr")
    rc=$?
    check "--out . (the current directory): exit 2 (got $rc)" test $rc -eq 2
    check "--out . : says why" grep -q 'is the current directory or holds it' "$tmp/stderr"
    # A diverging run stops with the reason, and writes no checkpoint, chart or history.
    expect_run_error diverging_run 'training loss became' train --dataset xor --optimizer sgd --lr 1e30 --epochs 3
    expect_error evaluate_missing 2 'missing.npz: no such checkpoint' evaluate "$tmp/missing.npz"
    expect_error evaluate_without_checkpoint 2 'which model\? xgrad train.s default output xgrad-out does not exist' evaluate
    expect_error evaluate_unknown_flag 2 'not expected: --bogus' evaluate "$tmp/missing.npz" --bogus
    expect_error evaluate_bad_seed 2 "--seed: 'abc' is not a whole number" evaluate "$tmp/missing.npz" --seed abc
    # Damaged and mismatched checkpoints of a real run.
    "$xgrad" train --dataset xor --epochs 1 --layers 8 --out "$tmp/m" >/dev/null 2>&1
    check "a small model to damage" test -s "$tmp/m/model.npz"
    head -c 100 "$tmp/m/model.npz" >"$tmp/m/cut.npz"
    cp "$tmp/m/model.json" "$tmp/m/cut.json"
    expect_error evaluate_truncated 1 'cut.npz' evaluate "$tmp/m/cut.npz"
    cp "$tmp/m/model.npz" "$tmp/m/alone.npz"
    expect_error evaluate_without_json 2 'alone.json: missing' evaluate "$tmp/m/alone.npz"
    cp "$tmp/m/model.npz" "$tmp/m/wide.npz"
    sed 's/8/16/' "$tmp/m/model.json" >"$tmp/m/wide.json"
    expect_error evaluate_wrong_shapes 1 "has shape \[8×2\] but the model expects \[16×2\]" evaluate "$tmp/m/wide.npz"
    printf '{"layers": [2, 8' >"$tmp/m/bad.json"
    cp "$tmp/m/model.npz" "$tmp/m/bad.npz"
    expect_error evaluate_bad_json 1 'bad.json: not valid JSON \(parse error at line 1' evaluate "$tmp/m/bad.npz"
    # model.json edited by hand: every message names the file and the field, never nlohmann's internals.
    for variant in no_layers nul_activation huge_layers negative_layer; do cp "$tmp/m/model.npz" "$tmp/m/$variant.npz"; done
    /usr/bin/python3 - "$tmp/m" <<'PY'
import json, sys
d = sys.argv[1]
def edit(name, change):
    m = json.load(open(f"{d}/model.json"))
    change(m)
    json.dump(m, open(f"{d}/{name}.json", "w"))
edit("no_layers", lambda m: m.pop("layers"))
edit("nul_activation", lambda m: m.update(activation="re\u0000lu"))
edit("huge_layers", lambda m: m.update(layers=[2, 10**12, 2]))
edit("negative_layer", lambda m: m.update(layers=[2, 8, -2]))
PY
    expect_error evaluate_json_without_layers 1 'no_layers.json: "layers" is missing' evaluate "$tmp/m/no_layers.npz"
    check "  … not nlohmann's words" bash -c "! grep -q 'json.exception' '$tmp/stderr'"
    expect_error evaluate_json_nul 1 "nul_activation.json: \"activation\": 're\\\\x00lu' is not one of sigmoid" \
      evaluate "$tmp/m/nul_activation.npz"
    expect_error evaluate_json_huge_layers 1 'huge_layers.json.s "layers": the model 2-1000000000000-2 has [0-9]+ parameters; too many for a model.npz' \
      evaluate "$tmp/m/huge_layers.npz"
    expect_error evaluate_json_negative_layer 1 'negative_layer.json: "layers" must be a list of at least 2 positive' \
      evaluate "$tmp/m/negative_layer.npz"
    # The checkpoint does not fit the data: said before running, naming the files and the flag.
    { echo 'a,b,c,label'; for i in $(seq 1 40); do echo "$((i % 7)),$((i % 5)),$((i % 3)),$((i % 2))"; done; } >"$tmp/three.csv"
    expect_error evaluate_other_data 1 'model.npz takes 2 features and gives 2 classes \(layers 2-8-2 in .*model.json\), but the data set of --dataset \(csv .*three.csv\) has 3 features' \
      evaluate "$tmp/m/model.npz" --dataset "csv:$tmp/three.csv"
    check "  … not the op's internals" bash -c "! grep -qE 'inner dimensions|called at' '$tmp/stderr'"

    # --threads beyond what OpenBLAS runs: capped, said, and the banner and model.json show the real count.
    "$xgrad" train --dataset xor --threads 1000 --dry-run >"$tmp/stdout" 2>"$tmp/stderr"
    rc=$?
    check "--threads 1000: exit 0 (got $rc)" test $rc -eq 0
    check "--threads 1000: says it is capped" grep -qE -- '--threads 1000: this OpenBLAS runs at most [0-9]+ threads; using [0-9]+' "$tmp/stderr"
    used=$(grep -oE 'using [0-9]+' "$tmp/stderr" | grep -oE '[0-9]+')
    check "--threads 1000: the banner prints the real count (${used:-?})" grep -q ", ${used:-x} thread(s)," "$tmp/stdout"
    check "--threads 1000: the banner does not claim 1000" bash -c "! grep -q '1000 thread' '$tmp/stdout'"
    ;;
  kill_during_save)
    # SIGKILL the command while it writes its outputs (model.npz is a 4 MB checkpoint of a 2-1024-1024-2
    # network), at every stage of saving model.npz, at the two stages of swapping the set in, and at a few
    # arbitrary moments. The outputs are written into a staging directory beside the output directory
    # ($tmp/.run.xgrad-tmp-<pid>-<n>) and swapped in as one set, so after every kill the output directory holds
    # the previous run's set bit for bit, or the new run's complete set: never a mix. The kills at stages are
    # exact, not timed: XGRAD_TEST_STOP_AT=<stage>:model.npz (a test hook of the durable writer,
    # src/io/file.cpp) and XGRAD_TEST_STOP_OUTPUTS=<stage> (the same for the swap, tools/app/output_set.cpp)
    # make the command stop itself with SIGSTOP there, the shell's `wait` returns when it stops (job control),
    # /proc/PID/stat confirms it is stopped, and only then is it killed. Nothing here depends on timing: no
    # sleep, no clock, no threshold on where the arbitrary kills land.
    set -m  # job control: `wait PID` returns when PID stops, not only when it ends
    out="$tmp/run"
    run=(train --dataset spiral --layers 1024,1024 --epochs 1 --progress none)
    args=("${run[@]}" --out "$out")
    trap 'kill -KILL "${pid:-}" 2>/dev/null; cleanup' EXIT  # never leave a stopped process behind
    state_of() { local s; { read -r s <"/proc/$1/stat"; } 2>/dev/null || return 0; s=${s##*) }; echo "${s%% *}"; }
    alive() { local s; { read -r s <"/proc/$1/stat"; } 2>/dev/null || return 1; s=${s##*) }; [[ ${s%% *} != Z ]]; }
    loads() { "$xgrad" evaluate "$1" >/dev/null 2>&1; }
    "$xgrad" "${args[@]}" --seed 1 >"$tmp/log" 2>&1
    check "a first complete run" test -s "$out/model.npz"
    cp "$out/model.npz" "$tmp/previous.npz"
    full=$(stat -c %s "$tmp/previous.npz")  # every run has the same architecture: the same archive size
    # What an uninterrupted run with seed 7 saves (a run killed after its swap must have saved exactly it).
    "$xgrad" "${run[@]}" --out "$tmp/reference" --seed 7 >/dev/null 2>&1
    check "a reference run (seed 7)" test -s "$tmp/reference/model.npz"

    # stop_at VARIABLE=STAGE SEED: start a run that stops itself at STAGE; sets pid, and stopped=1 when it did.
    stop_at() {
      env "$1" "$xgrad" "${args[@]}" --seed "$2" >"$tmp/log" 2>&1 &
      pid=$!
      wait "$pid"  # returns when the process stops (or ends)
      stopped=0
      [[ $(state_of "$pid") == T ]] && stopped=1
    }
    # SIGKILL, then reap. Not `wait -f`: in one CI run (bash 5.2.15) it never returned after the kill at the
    # "synced" stage, and the test hung until ctest's timeout. Looking at /proc until the process is a zombie
    # or gone, then a plain wait (immediate for a process that has ended), cannot hang.
    kill_it() {
      kill -KILL "$pid" 2>/dev/null
      while alive "$pid"; do :; done
      wait "$pid" 2>/dev/null
      return 0
    }
    # The staging directory of process $pid, and the writer's temporary file of model.npz in it, if any.
    staging() { compgen -G "$tmp/.run.xgrad-tmp-$pid-*"; }
    temporary() { compgen -G "$tmp/.run.xgrad-tmp-$pid-*/model.npz.tmp-$pid-*"; }
    previous_intact() { cmp -s "$out/model.npz" "$tmp/previous.npz" && consistent_set "$out"; }

    seed=2
    for stage in created half-written written synced renamed dir-synced; do
      stop_at "XGRAD_TEST_STOP_AT=$stage:model.npz" "$seed"
      check "$stage: the command stopped at the stage" test "$stopped" -eq 1
      part=$(temporary)
      size=$(stat -c %s "$part" 2>/dev/null || echo none)
      case $stage in
        created) want=0 ;;
        half-written) want=$((full / 2)) ;;
        renamed | dir-synced) want=none ;;  # renamed to model.npz inside the staging directory
        *) want=$full ;;
      esac
      check "$stage: the temporary file holds $want of $full bytes (holds $size)" test "$size" = "$want"
      kill_it
      check "$stage: killed; the previous set is intact, model.npz bit for bit" previous_intact
      check "$stage: killed; the previous checkpoint loads" loads "$out/model.npz"
      check "$stage: killed; the staging directory is left (safe to delete)" test -n "$(staging)"
      rm -rf "$(staging)"
      seed=$((seed + 1))
    done

    # The whole new set is staged and synced, and not swapped in: the previous set is still in place.
    stop_at XGRAD_TEST_STOP_OUTPUTS=staged 7
    check "staged: the command stopped at the stage" test "$stopped" -eq 1
    kill_it
    check "staged: killed; the previous set is intact" previous_intact
    check "staged: killed; the staged model.npz is exactly what an uninterrupted run saves" \
      cmp -s "$(staging)/model.npz" "$tmp/reference/model.npz"
    rm -rf "$(staging)"
    # Swapped: the new set is in place and complete; the old one waits (under the staging name) for deletion.
    stop_at XGRAD_TEST_STOP_OUTPUTS=swapped 7
    check "swapped: the command stopped at the stage" test "$stopped" -eq 1
    kill_it
    check "swapped: killed; model.npz is exactly what an uninterrupted run saves" \
      cmp -s "$out/model.npz" "$tmp/reference/model.npz"
    check "swapped: killed; the new set is complete and consistent" consistent_set "$out"
    check "swapped: killed; the new checkpoint loads" loads "$out/model.npz"
    check "swapped: killed; the previous set is left under the staging name" cmp -s "$(staging)/model.npz" "$tmp/previous.npz"
    rm -rf "$(staging)"
    cp "$out/model.npz" "$tmp/previous.npz"

    # A misspelt stage is an error naming the variable, and the previous set is untouched.
    XGRAD_TEST_STOP_AT=halfway "$xgrad" "${args[@]}" --seed 9 >"$tmp/log" 2>&1
    check "an unknown XGRAD_TEST_STOP_AT is an error naming the variable" grep -q "XGRAD_TEST_STOP_AT='halfway'" "$tmp/log"
    check "  … and the previous set is untouched" previous_intact
    XGRAD_TEST_STOP_OUTPUTS=halfway "$xgrad" "${args[@]}" --seed 9 >"$tmp/log" 2>&1
    check "an unknown XGRAD_TEST_STOP_OUTPUTS is an error naming the variable" grep -q "XGRAD_TEST_STOP_OUTPUTS='halfway'" "$tmp/log"
    check "  … and the previous set is untouched" previous_intact
    check "  … and no staging directory is left" no_temporaries "$tmp" "$out"

    # Arbitrary kills: once model.npz's temporary file appears, spin a random number of checks and kill. Where
    # they land depends on the machine; only safety is asserted, and where they landed is reported.
    RANDOM=10
    landed=()
    for round in 1 2 3 4; do
      "$xgrad" "${args[@]}" --seed $((round + 10)) >/dev/null 2>&1 &
      pid=$!
      # Until the temporary file appears or the run has ended. `kill -0` cannot tell: it succeeds on a run that
      # has ended but that this shell has not reaped yet (a zombie), and a loop of builtins may never reap it
      # (a run whose save fell between two looks then hung the test until ctest's timeout). alive reads
      # /proc/PID/stat without forking and is false once the process is a zombie or gone.
      while ! temporary >/dev/null && alive "$pid"; do :; done
      for ((spin = round == 1 ? 0 : RANDOM % 1000; spin > 0; spin--)); do staging >/dev/null || break; done
      kill_it
      if cmp -s "$out/model.npz" "$tmp/previous.npz"; then
        where="before the swap"
        check "round $round, killed $where: the previous set is intact" previous_intact
      else
        where="after the swap"
        check "round $round, killed $where: the new set is complete" consistent_set "$out"
        cp "$out/model.npz" "$tmp/previous.npz"
      fi
      rm -rf "$tmp"/.run.xgrad-tmp-"$pid"-*
      check "round $round, killed $where: model.npz loads" loads "$out/model.npz"
      landed+=("$where")
    done
    echo "the arbitrary kills landed: $(printf '%s; ' "${landed[@]}")"
    ;;
  outputs)
    # A run's outputs are one set: written beside the output directory and swapped in, with model.json
    # naming every other file and its SHA-256; files a user keeps there stay.
    out="$tmp/run"
    "$xgrad" train --dataset spiral --epochs 3 --seed 1 --out "$out" --progress none >"$tmp/log1" 2>&1
    check "first run exits 0" test $? -eq 0
    check "first run: a consistent set (every file has model.json's SHA-256)" consistent_set "$out"
    check "first run: with boundary.svg" test -s "$out/boundary.svg"
    # model.json records what the result depends on (docs/reliability.md, Determinism).
    check "model.json records the seed, the thread count, the BLAS kernel and the xgrad version" /usr/bin/python3 - "$out/model.json" "$tmp/log1" "$("$xgrad" --version)" <<'PY'
import json, re, sys
m = json.load(open(sys.argv[1]))
banner = open(sys.argv[2]).read()
threads, core = re.search(r"(\d+) thread\(s\), BLAS core (\S+)", banner).groups()
assert m["seed"] == 1 and m["threads"] == int(threads) and m["blas_core"] == core, (m, threads, core)
assert sys.argv[3] == "xgrad " + m["xgrad_version"], (sys.argv[3], m["xgrad_version"])
PY
    echo 'my notes' >"$out/notes.txt"
    "$xgrad" graph --dataset spiral --format dot --out "$out" >/dev/null 2>&1
    check "xgrad graph into the run's directory exits 0" test -s "$out/model.dot"
    # A run on 3 features has no boundary.svg: the previous run's must not stay beside the new set.
    { echo 'a,b,c,label'; for i in $(seq 1 60); do echo "$((i % 7)),$((i % 5)),$((i % 3)),$((i % 2))"; done; } >"$tmp/three.csv"
    "$xgrad" train --dataset "csv:$tmp/three.csv" --layers 4 --epochs 2 --seed 2 --out "$out" --progress none >/dev/null 2>&1
    check "second run exits 0" test $? -eq 0
    check "second run: a consistent set" consistent_set "$out"
    check "second run: the previous run's boundary.svg is gone" test ! -e "$out/boundary.svg"
    check "second run: the user's notes.txt and xgrad graph's model.dot stay" \
      bash -c "[[ \$(cat '$out/notes.txt') == 'my notes' ]] && test -s '$out/model.dot'"
    check "second run: no staging directory or temporary file left" no_temporaries "$tmp" "$out"
    # Two runs into one directory at once: each exits 0 (or fails with a clear message), and the directory
    # holds one run's complete set. Whether the runs overlap does not matter: the property holds either way.
    for round in 1 2 3 4; do
      "$xgrad" train --dataset xor --epochs 2 --seed 11 --out "$out" --progress none >"$tmp/a.log" 2>&1 &
      pa=$!
      "$xgrad" train --dataset xor --epochs 2 --seed 12 --out "$out" --progress none >"$tmp/b.log" 2>&1 &
      pb=$!
      wait $pa
      ra=$?
      wait $pb
      rb=$?
      for r in a:$ra b:$rb; do
        rc=${r#*:}
        check "parallel round $round, run ${r%%:*}: exit 0, or 1 with a clear message (exit $rc)" \
          bash -c "[[ $rc -eq 0 ]] || { [[ $rc -eq 1 ]] && grep -q 'writing the outputs failed' '$tmp/${r%%:*}.log'; }"
      done
      check "parallel round $round: one complete, consistent set" consistent_set "$out"
      seed=$(/usr/bin/python3 -c "import json; print(json.load(open('$out/model.json'))['seed'])")
      check "parallel round $round: the set is one of the two runs' (seed $seed)" bash -c "[[ $seed == 11 || $seed == 12 ]]"
      "$xgrad" evaluate "$out/model.npz" >"$tmp/eval" 2>&1
      check "parallel round $round: evaluate reproduces model.json's test accuracy" /usr/bin/python3 - "$out/model.json" "$tmp/eval" <<'PY'
import json, re, sys
m = json.load(open(sys.argv[1]))
got = float(re.search(r"accuracy ([0-9.]+)%", open(sys.argv[2]).read()).group(1))
assert f"{100 * m['test_accuracy']:.2f}" == f"{got:.2f}", (m["test_accuracy"], got)
PY
      check "parallel round $round: no staging directory or temporary file left" no_temporaries "$tmp" "$out"
    done
    check "the user's notes.txt survived every round" grep -q 'my notes' "$out/notes.txt"
    ;;
  help)
    # --help prints the defaults a run really uses: a dry run without the flag shows the value --help names.
    "$xgrad" train --help >"$tmp/help" 2>&1
    check "train --help exits 0" test $? -eq 0
    check "train --help documents the exit status" grep -q 'Exit status: 0 success; 1 .*; 2 usage error' "$tmp/help"
    default_of() {  # default_of FLAG image|plane: the default --help gives for that kind of data set
      local line
      line=$(grep -E -- "^ +$1 " "$tmp/help")
      if [[ $2 == image ]]; then sed -nE 's/.*\[default: ([^;]*);.*/\1/p' <<<"$line"; else sed -nE 's/.*; 2-D sets[^:]*: ([^]]*)\].*/\1/p' <<<"$line"; fi
    }
    { echo 'a,b,c,label'; for i in $(seq 1 60); do echo "$((i % 7)),$((i % 5)),$((i % 3)),$((i % 2))"; done; } >"$tmp/three.csv"
    for kind in image plane; do
      if [[ $kind == image ]]; then data="csv:$tmp/three.csv"; else data=spiral; fi
      for opt in adam momentum sgd; do
        "$xgrad" train --dataset "$data" --optimizer "$opt" --dry-run --out "$tmp/dry" >"$tmp/banner" 2>&1
        check "dry run ($kind, $opt) exits 0 and writes nothing" bash -c "[[ $? -eq 0 && ! -e '$tmp/dry' ]]"
        layers=$(default_of --layers $kind)
        epochs=$(default_of --epochs $kind)
        batch=$(default_of --batch $kind)
        lr=$(default_of --lr $kind)
        [[ $kind == image ]] && lr=$(grep -oE "$opt [0-9.e-]+" <<<"$lr" | awk '{print $2}') || lr=${lr%% *}
        check "$kind, $opt: --help's --layers default ${layers:-?} is the run's" grep -qE "model: [0-9]+-${layers//,/-}-[0-9]+ " "$tmp/banner"
        check "$kind, $opt: --help's --epochs, --batch and --lr defaults ($epochs, $batch, $lr) are the run's" \
          grep -q "training: $opt lr ${lr:-?}, ${epochs:-?} epochs, batch ${batch:-?}, " "$tmp/banner"
      done
    done
    threads=$(grep -oE -- '--threads INT=[0-9]+' "$tmp/help" | grep -oE '[0-9]+$')
    check "--threads default ${threads:-?} is the run's" grep -q ", ${threads:-?} thread(s)," "$tmp/banner"
    "$xgrad" graph --help >"$tmp/ghelp" 2>&1
    check "graph --help names both --layers defaults" grep -qE -- '--layers .*\[default: 256; 2-D sets.*: 64,64\]' "$tmp/ghelp"
    "$xgrad" --version >"$tmp/version" 2>&1
    check "--version exits 0 and prints the version" bash -c "[[ $? -eq 0 ]] && grep -qE '^xgrad [0-9]+\.[0-9]+\.[0-9]+$' '$tmp/version'"
    ;;
  full_disk)
    # A full disk while the outputs are written: the previous run's set stays whole, no temporary file or
    # staging directory is left, and the message gives errno's reason. On a 256 KiB tmpfs, filled so that
    # the next run's model.npz fits but not its pictures.
    disk="$tmp/disk"
    mkdir -p "$disk"
    if ! mount -t tmpfs -o size=256k tmpfs "$disk" 2>/dev/null; then
      echo "skipped: cannot mount tmpfs (needs root; CI runs as root)"
      exit 0
    fi
    mounted=$disk
    out="$disk/run"
    "$xgrad" train --dataset spiral --epochs 3 --seed 1 --out "$out" --progress none >"$tmp/log" 2>&1
    check "a first complete run on the small disk" bash -c "[[ $? -eq 0 ]]"
    check "  … a consistent set" consistent_set "$out"
    (cd "$out" && sha256sum -- *) >"$tmp/before.sha256"
    free=$(($(stat -f -c '%a * %S' "$disk")))
    npz_pages=$((($(stat -c %s "$out/model.npz") + 4095) / 4096))
    head -c $((free - (npz_pages + 2) * 4096)) /dev/zero >"$disk/filler"
    echo "free after the filler: $(($(stat -f -c '%a * %S' "$disk"))) bytes; model.npz takes $npz_pages pages"
    "$xgrad" train --dataset spiral --epochs 3 --seed 2 --out "$out" --progress none >"$tmp/log" 2>"$tmp/err"
    rc=$?
    echo "the second run said: $(cat "$tmp/err")"
    check "the second run fails with exit 1 (got $rc)" test $rc -eq 1
    check "  … giving errno's reason" grep -q 'No space left on device' "$tmp/err"
    check "  … partway: model.npz was written, a later file failed" grep -qE '(resume.npz|history.csv|training.svg|boundary.svg|model.json): cannot write' "$tmp/err"
    check "  … saying the directory keeps its previous files" grep -q 'keeps what it held before' "$tmp/err"
    check "the previous run's files are all there, unchanged" bash -c "cd '$out' && sha256sum --quiet -c '$tmp/before.sha256'"
    check "  … and nothing else" bash -c "[[ \$(ls -A '$out' | wc -l) -eq \$(wc -l <'$tmp/before.sha256') ]]"
    check "no staging directory or temporary file left on the disk" bash -c "[[ \$(ls -A '$disk' | sort | tr '\n' ' ') == 'filler run ' ]]"
    rm -f "$disk/filler"
    "$xgrad" train --dataset spiral --epochs 3 --seed 2 --out "$out" --progress none >"$tmp/log" 2>&1
    check "with room again, the run succeeds" bash -c "[[ $? -eq 0 ]]"
    check "  … and the directory holds its consistent set" consistent_set "$out"
    ;;
  model)
    # --model: an architecture string is trained, recorded in model.json and rebuilt by evaluate and graph.
    "$xgrad" train --dataset spiral --model fc:32,tanh,fc:32,relu --epochs 40 --seed 3 --out "$tmp/m" >"$tmp/log" 2>&1
    check "train --model ARCH exits 0" test $? -eq 0
    check "  … prints the architecture with its classifier" grep -q 'model: fc:32,tanh,fc:32,relu,fc:2 (2×1×1 → 2)' "$tmp/log"
    check "  … model.json records it" grep -q '"model": "fc:32,tanh,fc:32,relu"' "$tmp/m/model.json"
    "$xgrad" evaluate "$tmp/m/model.npz" >"$tmp/eval" 2>&1
    check "evaluate rebuilds it (exit $?)" grep -q 'accuracy' "$tmp/eval"
    a1=$(accuracy_of "$tmp/log")
    a2=$(grep -oE 'accuracy [0-9.]+%' "$tmp/eval" | head -n 1 | grep -oE '[0-9.]+')
    check "  … and reproduces the test accuracy ($a1 vs $a2)" test "$a1" = "$a2"
    sed -i 's/"model": "fc:32,tanh,fc:32,relu"/"model": "fc:32,tanh,fc:32,relu,pool2"/' "$tmp/m/model.json"
    "$xgrad" evaluate "$tmp/m/model.npz" >"$tmp/eval" 2>&1
    rc=$?
    check "a bad architecture in model.json: exit $rc, naming the file and the layer" \
      bash -c "[[ $rc -eq 1 ]] && grep -q 'model.json: \"model\": .*layer 5 .pool2.: unknown layer' '$tmp/eval'"
    "$xgrad" graph --model cnn --format dot --out "$tmp/g" >"$tmp/log" 2>&1
    check "graph --model cnn exits 0" test $? -eq 0
    check "  … draws the conv2d and relu_max_pool2d (relu,maxpool2 as one op) nodes with their rules" \
      bash -c "grep -q 'dW1 = dA1·im2col(X)ᵀ' '$tmp/g/model.dot' && grep -q 'relu_max_pool2d' '$tmp/g/model.dot' && grep -q 'dA1 = dH1 ⊙ \[H1 &gt; 0\] to the first maximum' '$tmp/g/model.dot'"
    expect_error model_needs_images 2 'conv and pooling layers need images' train --dataset spiral --model cnn --out "$tmp/x1"
    expect_error model_and_layers 2 '--layers sets the hidden layers of --model mlp' train --model cnn --layers 8 --out "$tmp/x2"
    expect_error model_unknown_layer 2 "--model: architecture 'conv3x3:8,pool2': layer 2 'pool2': unknown layer" \
      train --model conv3x3:8,pool2 --out "$tmp/x3"
    expect_error model_does_not_fit 2 "layer 6 'maxpool2'.*larger than the padded image" \
      train --dataset fashion-mnist --model conv3:4,maxpool2,maxpool2,maxpool2,maxpool2,maxpool2 --data "$tmp" --dry-run --out "$tmp/x4"
    nothing_written "bad --model" "$tmp/x1"
    ;;
  determinism)
    "$xgrad" train --dataset spiral --epochs 15 --seed 11 --out "$tmp/a" >/dev/null 2>&1
    "$xgrad" train --dataset spiral --epochs 15 --seed 11 --out "$tmp/b" >/dev/null 2>&1
    "$xgrad" train --dataset spiral --epochs 15 --seed 12 --out "$tmp/c" >/dev/null 2>&1
    check "same seed: bit-identical checkpoints" cmp -s "$tmp/a/model.npz" "$tmp/b/model.npz"
    check "same seed: identical losses per epoch" bash -c "diff <(cut -d, -f1-5 '$tmp/a/history.csv') <(cut -d, -f1-5 '$tmp/b/history.csv')"
    check "another seed: a different checkpoint" bash -c "! cmp -s '$tmp/a/model.npz' '$tmp/c/model.npz'"
    # --threads 2 (data parallel: each thread half of every batch): bit-identical run to run, and a run stopped
    # and resumed (model.json records the threads) ends as the uninterrupted one.
    "$xgrad" train --dataset spiral --epochs 15 --seed 11 --threads 2 --out "$tmp/t1" >"$tmp/t1.log" 2>&1
    "$xgrad" train --dataset spiral --epochs 15 --seed 11 --threads 2 --out "$tmp/t2" >/dev/null 2>&1
    "$xgrad" train --dataset spiral --epochs 15 --seed 11 --threads 2 --stop-after 6 --out "$tmp/t3" >/dev/null 2>&1
    "$xgrad" train --resume "$tmp/t3" >/dev/null 2>&1
    check "--threads 2: trains data parallel" grep -q 'threads: data parallel' "$tmp/t1.log"
    check "--threads 2 twice: bit-identical checkpoints" cmp -s "$tmp/t1/model.npz" "$tmp/t2/model.npz"
    check "--threads 2 twice: identical optimizer states" cmp -s "$tmp/t1/resume.npz" "$tmp/t2/resume.npz"
    check "--threads 2: 6 epochs + --resume ≡ 15 epochs (model.npz)" cmp -s "$tmp/t1/model.npz" "$tmp/t3/model.npz"
    check "--threads 2: another checkpoint than 1 thread (another summation order)" bash -c "! cmp -s '$tmp/a/model.npz' '$tmp/t1/model.npz'"
    ;;
  *)
    echo "unknown case $case_name"
    exit 2
    ;;
esac

finish
