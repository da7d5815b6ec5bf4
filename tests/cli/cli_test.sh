#!/usr/bin/env bash
# Runs the xgrad command as a user would and checks exit codes, messages and files.
#   cli_test.sh XGRAD_BINARY CASE      (CASE: train_spiral, evaluate, bad_input, determinism)
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

# expect_usage_error NAME PATTERN ARGS...: non-zero exit, stderr matching PATTERN, no output directory left.
expect_usage_error() {
  local name=$1 pattern=$2
  shift 2
  local out="$tmp/out-$name"
  "$xgrad" "$@" --out "$out" >"$tmp/stdout" 2>"$tmp/stderr"
  local rc=$?
  if [[ $rc -ne 0 ]] && grep -qE -- "$pattern" "$tmp/stderr"; then
    ok "$name: exit $rc, says: $(head -n 1 "$tmp/stderr")"
  else
    bad "$name: exit $rc, stderr: $(cat "$tmp/stderr")"
  fi
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
    # An output directory that cannot be created: its parent is a regular file.
    touch "$tmp/file"
    "$xgrad" train --dataset xor --epochs 1 --out "$tmp/file/sub" >"$tmp/stdout" 2>"$tmp/stderr"
    rc=$?
    check "unwritable --out: exit $rc and a message naming it" bash -c "[[ $rc -ne 0 ]] && grep -q 'file/sub' '$tmp/stderr'"
    check "unwritable --out: fails before training" bash -c "! grep -q '^epoch' '$tmp/stdout'"
    "$xgrad" evaluate "$tmp/missing.npz" >"$tmp/stdout" 2>"$tmp/stderr"
    rc=$?
    check "evaluate of a missing checkpoint: exit $rc, names it" bash -c "[[ $rc -ne 0 ]] && grep -q 'missing.npz' '$tmp/stderr'"
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
