#!/usr/bin/env bash
# Runs the xgrad command as a user would and checks exit codes, messages and files.
#   cli_test.sh XGRAD_BINARY CASE      (CASE: train_spiral, evaluate, bad_input, determinism, kill_during_save)
# With XGRAD_RELIABILITY_ROWS set, bad_input appends one row per bad input to that file (the table of
# docs/reliability.md is generated from them by tests/reliability/table.sh).
set -uo pipefail
xgrad=$1
case_name=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0

ok() { passed=$((passed + 1)); echo "ok   - $*"; }
bad() { failed=$((failed + 1)); echo "FAIL - $*"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }

# record NAME RC ARGS...: a row "cli.NAME, the command, exit RC, stderr, cli.bad_input" (the temporary
# directory shown as $TMP, lines joined with ⏎) when XGRAD_RELIABILITY_ROWS is set.
record() {
  [[ -n ${XGRAD_RELIABILITY_ROWS:-} ]] || return 0
  local name=$1 rc=$2
  shift 2
  local cmd="xgrad $*" msg
  msg=$(sed -e ':a' -e 'N' -e '$!ba' -e 's/\n/ ⏎ /g' "$tmp/stderr")
  printf 'cli.%s\t`%s`\texit %s\t%s\tcli.bad_input\n' "$name" "${cmd//$tmp/\$TMP}" "$rc" "${msg//$tmp/\$TMP}" \
    >>"$XGRAD_RELIABILITY_ROWS"
}

# expect_error NAME PATTERN ARGS...: non-zero exit and stderr matching PATTERN (recorded as a row).
expect_error() {
  local name=$1 pattern=$2
  shift 2
  "$xgrad" "$@" >"$tmp/stdout" 2>"$tmp/stderr"
  local rc=$?
  if [[ $rc -ne 0 ]] && grep -qE -- "$pattern" "$tmp/stderr"; then
    ok "$name: exit $rc, says: $(head -n 1 "$tmp/stderr")"
  else
    bad "$name: exit $rc, stderr: $(cat "$tmp/stderr")"
  fi
  record "$name" "$rc" "$@"
}

# expect_usage_error NAME PATTERN ARGS...: as expect_error with --out DIR added, and DIR must not exist after.
expect_usage_error() {
  local name=$1 pattern=$2
  shift 2
  local out="$tmp/out-$name"
  expect_error "$name" "$pattern" "$@" --out "$out"
  check "$name: nothing written" test ! -e "$out"
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
    check "no temporary files left" bash -c "! ls '$tmp/spiral' | grep -q tmp"
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
    ;;
  bad_input)
    expect_usage_error unknown_flag '--bogus' train --bogus
    expect_usage_error negative_epochs 'epochs' train --dataset xor --epochs -1
    expect_usage_error zero_batch 'batch' train --dataset xor --batch 0
    expect_usage_error negative_batch 'batch must be at least 1, not -1' train --dataset xor --batch -1
    expect_usage_error zero_lr 'lr' train --dataset xor --lr 0
    expect_usage_error negative_lr 'lr' train --dataset xor --lr -0.5
    expect_usage_error nan_lr 'lr' train --dataset xor --lr nan
    expect_usage_error bad_activation 'activation' train --dataset xor --activation gelu
    expect_usage_error bad_optimizer 'optimizer' train --dataset xor --optimizer lbfgs
    expect_usage_error bad_dataset "unknown data set 'nope'" train --dataset nope
    expect_usage_error bad_layers "'x' is not a positive layer size" train --dataset xor --layers 12,x
    expect_usage_error zero_layer "'0' is not a positive layer size" train --dataset xor --layers 0
    expect_usage_error zero_threads 'threads' train --dataset xor --threads 0
    expect_usage_error mnist_without_data 'needs --data DIR' train --dataset mnist
    expect_usage_error missing_data_dir 'not a directory' train --dataset fashion-mnist --data "$tmp/nowhere"
    expect_usage_error csv_missing 'csv' train --dataset "csv:$tmp/none.csv" --epochs 1
    expect_usage_error no_subcommand 'subcommand' 
    expect_usage_error unknown_subcommand 'subcommand' bogus
    expect_usage_error epochs_not_a_number 'Could not convert: --epochs = abc' train --dataset xor --epochs abc
    expect_usage_error epochs_overflow 'epochs' train --dataset xor --epochs 99999999999
    expect_usage_error lr_not_a_number 'Could not convert: --lr = abc' train --dataset xor --lr abc
    expect_usage_error infinite_lr 'lr must be a positive number' train --dataset xor --lr inf
    expect_usage_error bad_progress 'progress' train --dataset xor --progress sometimes
    expect_usage_error empty_layer "'' is not a positive layer size" train --dataset xor --layers 8,,8
    expect_usage_error huge_layer "'2000000' is not a positive layer size" train --dataset xor --layers 2000000
    expect_usage_error csv_without_path "needs a path after 'csv:'" train --dataset csv:
    printf 'x,y,label\n1,2,0\n3,nan,1\n' >"$tmp/nan.csv"
    expect_usage_error csv_nan "nan.csv:3: column 2 \('y'\): 'nan' is not a number" train --dataset "csv:$tmp/nan.csv"
    printf 'x,y,label\n1,2,0\n3,1\n' >"$tmp/ragged.csv"
    expect_usage_error csv_ragged 'ragged.csv:3: ragged row' train --dataset "csv:$tmp/ragged.csv"
    mkdir -p "$tmp/idx"
    printf 'not an IDX file at all' >"$tmp/idx/train-images-idx3-ubyte"
    printf 'not an IDX file at all' >"$tmp/idx/train-labels-idx1-ubyte"
    expect_usage_error corrupt_idx 'not an IDX images file' train --dataset mnist --data "$tmp/idx"
    # An output directory that cannot be created: its parent is a regular file; or it is a regular file.
    touch "$tmp/file"
    expect_error unwritable_out 'cannot create the directory' train --dataset xor --epochs 1 --out "$tmp/file/sub"
    check "unwritable --out: fails before training" bash -c "! grep -q '^epoch' '$tmp/stdout'"
    expect_error out_is_a_file 'cannot create the directory' train --dataset xor --epochs 1 --out "$tmp/file"
    check "--out is a file: the file is left alone" test -f "$tmp/file"
    # A diverging run stops with the reason, and writes no checkpoint, chart or history.
    expect_error diverging_run 'training loss became' train --dataset xor --optimizer sgd --lr 1e30 --epochs 3 --out "$tmp/div"
    check "diverging run: nothing written" bash -c "[[ -z \$(ls -A '$tmp/div' 2>/dev/null) ]]"
    expect_error evaluate_missing 'missing.npz' evaluate "$tmp/missing.npz"
    expect_error evaluate_without_checkpoint 'checkpoint is required' evaluate
    expect_error evaluate_unknown_flag 'not expected: --bogus' evaluate "$tmp/missing.npz" --bogus
    # Damaged and mismatched checkpoints of a real run.
    "$xgrad" train --dataset xor --epochs 1 --layers 8 --out "$tmp/m" >/dev/null 2>&1
    check "a small model to damage" test -s "$tmp/m/model.npz"
    head -c 100 "$tmp/m/model.npz" >"$tmp/m/cut.npz"
    cp "$tmp/m/model.json" "$tmp/m/cut.json"
    expect_error evaluate_truncated 'cut.npz' evaluate "$tmp/m/cut.npz"
    cp "$tmp/m/model.npz" "$tmp/m/alone.npz"
    expect_error evaluate_without_json 'alone.json: missing' evaluate "$tmp/m/alone.npz"
    cp "$tmp/m/model.npz" "$tmp/m/wide.npz"
    sed 's/8/16/' "$tmp/m/model.json" >"$tmp/m/wide.json"
    expect_error evaluate_wrong_shapes "has shape \[8×2\] but the model expects \[16×2\]" evaluate "$tmp/m/wide.npz"
    printf '{"layers": [2, 8' >"$tmp/m/bad.json"
    cp "$tmp/m/model.npz" "$tmp/m/bad.npz"
    expect_error evaluate_bad_json 'bad.json: not valid JSON' evaluate "$tmp/m/bad.npz"
    ;;
  kill_during_save)
    # SIGKILL the command while it saves model.npz (a 4 MB checkpoint of a 2-1024-1024-2 network), at every
    # stage of the save and at a few arbitrary moments; the checkpoint at model.npz must always be safe. The
    # kills at stages are exact, not timed: XGRAD_TEST_STOP_AT=<stage>:model.npz (a test hook of the durable
    # writer, src/io/file.cpp) makes the command stop itself with SIGSTOP there, the shell's `wait` returns
    # when it stops (job control), /proc/PID/stat confirms it is stopped, and only then is it killed. Nothing
    # here depends on timing: no sleep, no clock, no threshold on where the arbitrary kills land.
    set -m  # job control: `wait PID` returns when PID stops, not only when it ends
    out="$tmp/run"
    run=(train --dataset spiral --layers 1024,1024 --epochs 1 --progress none)
    args=("${run[@]}" --out "$out")
    trap 'kill -KILL "${pid:-}" 2>/dev/null; rm -rf "$tmp"' EXIT  # never leave a stopped process behind
    state_of() { local s; { read -r s <"/proc/$1/stat"; } 2>/dev/null || return 0; s=${s##*) }; echo "${s%% *}"; }
    loads() { "$xgrad" evaluate "$1" >/dev/null 2>&1; }
    "$xgrad" "${args[@]}" --seed 1 >"$tmp/log" 2>&1
    check "a first complete run" test -s "$out/model.npz"
    cp "$out/model.npz" "$tmp/previous.npz"
    full=$(stat -c %s "$tmp/previous.npz")  # every run has the same architecture: the same archive size
    # What an uninterrupted run with seed 7 saves (the run killed after its rename must have saved exactly it).
    "$xgrad" "${run[@]}" --out "$tmp/reference" --seed 7 >/dev/null 2>&1
    check "a reference run (seed 7)" test -s "$tmp/reference/model.npz"

    # stop_at STAGE SEED: start a run that stops itself at STAGE; sets pid, and stopped=1 when it did stop.
    stop_at() {
      XGRAD_TEST_STOP_AT=$1:model.npz "$xgrad" "${args[@]}" --seed "$2" >"$tmp/log" 2>&1 &
      pid=$!
      wait "$pid"  # returns when the process stops (or ends)
      stopped=0
      [[ $(state_of "$pid") == T ]] && stopped=1
    }
    kill_it() { kill -KILL "$pid" 2>/dev/null; wait -f "$pid" 2>/dev/null; }
    # The writer's temporary file of process $pid (model.npz.tmp-<pid>-<n>), if there is one.
    temporary() { compgen -G "$out/model.npz.tmp-$pid-*"; }

    seed=2
    for stage in created half-written written synced; do
      stop_at "$stage" "$seed"
      check "$stage: the command stopped at the stage" test "$stopped" -eq 1
      part=$(temporary)
      size=$(stat -c %s "$part" 2>/dev/null || echo none)
      case $stage in
        created) want=0 ;;
        half-written) want=$((full / 2)) ;;
        *) want=$full ;;
      esac
      check "$stage: the temporary file holds $want of $full bytes (holds $size)" test "$size" = "$want"
      kill_it
      check "$stage: killed; the previous checkpoint is intact, bit for bit" cmp -s "$out/model.npz" "$tmp/previous.npz"
      check "$stage: killed; the previous checkpoint loads" loads "$out/model.npz"
      check "$stage: killed; the stale temporary file is left (safe to delete)" test -n "$part" -a -e "$part"
      rm -f "$part"
      seed=$((seed + 1))
    done

    # After the rename the new checkpoint is in place and complete, whether or not the directory is synced.
    stop_at renamed 7
    check "renamed: the command stopped at the stage" test "$stopped" -eq 1
    kill_it
    check "renamed: killed; no temporary file left" test -z "$(temporary)"
    check "renamed: killed; model.npz is exactly what an uninterrupted run saves" \
      cmp -s "$out/model.npz" "$tmp/reference/model.npz"
    check "renamed: killed; the new checkpoint loads" loads "$out/model.npz"
    stop_at dir-synced 8
    check "dir-synced: the command stopped at the stage" test "$stopped" -eq 1
    kill_it
    check "dir-synced: killed; a new checkpoint, no temporary file" \
      bash -c "! cmp -s '$out/model.npz' '$tmp/reference/model.npz' && test -z '$(temporary)'"
    check "dir-synced: killed; the new checkpoint loads" loads "$out/model.npz"
    cp "$out/model.npz" "$tmp/previous.npz"

    # A misspelt stage is refused before anything is written (a test that sets it must not silently pass).
    XGRAD_TEST_STOP_AT=halfway "$xgrad" "${args[@]}" --seed 9 >"$tmp/log" 2>&1
    check "an unknown XGRAD_TEST_STOP_AT is an error naming the variable" grep -q "XGRAD_TEST_STOP_AT='halfway'" "$tmp/log"
    check "  … and the previous checkpoint is untouched" cmp -s "$out/model.npz" "$tmp/previous.npz"

    # Arbitrary kills: once the temporary file appears, spin a random number of checks and kill. Where they
    # land depends on the machine; only safety is asserted, and where they landed is reported.
    RANDOM=10
    landed=()
    for round in 1 2 3 4; do
      "$xgrad" "${args[@]}" --seed $((round + 10)) >/dev/null 2>&1 &
      pid=$!
      while ! temporary >/dev/null && kill -0 "$pid" 2>/dev/null; do :; done
      for ((spin = round == 1 ? 0 : RANDOM % 1000; spin > 0; spin--)); do temporary >/dev/null || break; done
      kill_it
      part=$(temporary)
      if [[ -n $part ]]; then
        size=$(stat -c %s "$part")
        where="before the rename ($size of $full bytes written)"
        check "round $round, killed $where: the previous checkpoint is intact" cmp -s "$out/model.npz" "$tmp/previous.npz"
        rm -f "$part"
      elif cmp -s "$out/model.npz" "$tmp/previous.npz"; then
        where="before the save began"
      else
        where="after the rename"
        cp "$out/model.npz" "$tmp/previous.npz"
      fi
      check "round $round, killed $where: model.npz loads" loads "$out/model.npz"
      landed+=("$where")
    done
    echo "the arbitrary kills landed: $(printf '%s; ' "${landed[@]}")"
    ;;
  determinism)
    "$xgrad" train --dataset spiral --epochs 15 --seed 11 --out "$tmp/a" >/dev/null 2>&1
    "$xgrad" train --dataset spiral --epochs 15 --seed 11 --out "$tmp/b" >/dev/null 2>&1
    "$xgrad" train --dataset spiral --epochs 15 --seed 12 --out "$tmp/c" >/dev/null 2>&1
    check "same seed: bit-identical checkpoints" cmp -s "$tmp/a/model.npz" "$tmp/b/model.npz"
    check "same seed: identical losses per epoch" bash -c "diff <(cut -d, -f1-5 '$tmp/a/history.csv') <(cut -d, -f1-5 '$tmp/b/history.csv')"
    check "another seed: a different checkpoint" bash -c "! cmp -s '$tmp/a/model.npz' '$tmp/c/model.npz'"
    ;;
  *)
    echo "unknown case $case_name"
    exit 2
    ;;
esac

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
