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
    # SIGKILL the command while it writes model.npz (a 4 MB checkpoint of a 2-1024-1024-2 network), several
    # times; the checkpoint of the run before must load intact each time, bit for bit.
    out="$tmp/run"
    args=(train --dataset spiral --layers 1024,1024 --epochs 1 --out "$out" --progress none)
    "$xgrad" "${args[@]}" --seed 1 >"$tmp/log" 2>&1
    check "a first complete run" test -s "$out/model.npz"
    cp "$out/model.npz" "$tmp/previous.npz"
    mid_write=0
    rounds=6
    for round in $(seq 1 $rounds); do
      "$xgrad" "${args[@]}" --seed $((round + 1)) >/dev/null 2>&1 &
      pid=$!  # the xgrad process itself: its temporary file is model.npz.tmp-$pid
      # Wait until the temporary checkpoint appears, then kill after 0–5 ms.
      while [[ ! -e "$out/model.npz.tmp-$pid" ]] && kill -0 "$pid" 2>/dev/null; do :; done
      delay=$(( (round - 1) % 6 ))
      ((delay == 0)) || sleep "0.00$delay"
      kill -KILL "$pid" 2>/dev/null
      wait "$pid" 2>/dev/null
      if [[ -e "$out/model.npz.tmp-$pid" ]]; then
        mid_write=$((mid_write + 1))
        partial=$(stat -c %s "$out/model.npz.tmp-$pid")
        rm -f "$out/model.npz.tmp-$pid"
        check "round $round (killed $delay ms into the write, $partial of $(stat -c %s "$tmp/previous.npz") bytes written): the previous checkpoint is intact" \
          cmp -s "$out/model.npz" "$tmp/previous.npz"
      else
        # Killed after the rename (or it finished): the new checkpoint is complete.
        check "round $round (killed after the rename): the new checkpoint loads" \
          bash -c "'$xgrad' evaluate '$out/model.npz' >/dev/null 2>&1"
        cp "$out/model.npz" "$tmp/previous.npz"
      fi
      check "round $round: evaluate loads the checkpoint" bash -c "'$xgrad' evaluate '$out/model.npz' >/dev/null 2>&1"
    done
    echo "killed in the middle of writing model.npz in $mid_write of $rounds rounds"
    check "killed mid-write in at least half of the rounds ($mid_write of $rounds)" test $((2 * mid_write)) -ge $rounds
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
