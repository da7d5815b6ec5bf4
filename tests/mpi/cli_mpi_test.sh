#!/usr/bin/env bash
# mpirun -np N xgrad train (issue 15), as a user runs it; checks exit codes, messages and files.
#   cli_mpi_test.sh XGRAD_BINARY CASE MPIRUN
# CASE: equivalence  2 and 3 processes ≡ one process with the global batch (history, test accuracy, weights)
#       rank0_outputs only rank 0 prints and writes (each rank started in its own directory)
#       resume        --stop-after + --resume under mpirun ≡ the uninterrupted run, byte for byte; resuming
#                     with another number of processes is refused (exit 2)
#       killed_rank   a rank killed mid-epoch (SIGKILL at a chosen batch) ends the job, naming the rank; the
#                     checkpoint being resumed stays as it was
#       mismatch      ranks started with other flags, or other data, refuse before training; other
#                     subcommands refuse to run on several processes
# No timing: `timeout` only guards against a hang (status 124 fails the test).
set -uo pipefail
xgrad=$1
[[ $xgrad == /* ]] || xgrad=$PWD/$xgrad
case_name=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# A session directory of its own (orte_tmpdir_base): Open MPI's shared one has a creation race between jobs
# that start together (tests/mpi/mpirun.sh).
mpirun=(${3:-mpirun} --allow-run-as-root --oversubscribe --mca orte_tmpdir_base "$tmp")
source "$(dirname "${BASH_SOURCE[0]}")/../cli/checks.sh"
cd "$tmp" || exit 1

# run NP ARGS...: xgrad under mpirun -np NP (NP 0: without mpirun); stdout in out.txt, stderr in err.txt, the
# status in $rc.
run() {
  local np=$1
  shift
  if [[ $np == 0 ]]; then
    timeout 120 "$xgrad" "$@" >out.txt 2>err.txt
  else
    timeout 120 "${mpirun[@]}" -np "$np" "$xgrad" "$@" >out.txt 2>err.txt
  fi
  rc=$?
  [[ $rc == 124 ]] && echo "(timed out: $*)"
  return 0
}

# close A B TOL (close.py): the numbers of two history.csv (columns loss, train_accuracy, val_loss, val_accuracy) and
# of two model.npz (every weight, read with the standard library) agree to TOL relative.
cat >close.py <<'PY'
import ast, struct, sys, zipfile
a, b, tol = sys.argv[1], sys.argv[2], float(sys.argv[3])
def rows(d):
    lines = open(d + "/history.csv").read().split("\n")[1:]
    return [[float(v) for v in l.split(",")[1:5]] for l in lines if l]
def weights(d):
    out = {}
    with zipfile.ZipFile(d + "/model.npz") as z:
        for n in z.namelist():
            raw = z.read(n)
            hlen = struct.unpack("<H", raw[8:10])[0]
            header = ast.literal_eval(raw[10:10 + hlen].decode())
            assert header["descr"] == "<f4", header
            body = raw[10 + hlen:]
            out[n] = struct.unpack("<%df" % (len(body) // 4), body)
    return out
worst = 0.0
ra, rb = rows(a), rows(b)
assert len(ra) == len(rb) and ra, (len(ra), len(rb))
for x, y in zip(ra, rb):
    for u, v in zip(x, y):
        worst = max(worst, abs(u - v) / (1 + abs(v)))
wa, wb = weights(a), weights(b)
assert wa.keys() == wb.keys()
for k in wa:
    for u, v in zip(wa[k], wb[k]):
        worst = max(worst, abs(u - v) / (1 + abs(v)))
print("largest relative difference %.3g (tolerance %g)" % (worst, tol))
sys.exit(0 if worst <= tol else 1)
PY
close() { /usr/bin/python3 "$tmp/close.py" "$@"; }

common=(--dataset spiral --layers 16,16 --seed 1 --progress none)
case $case_name in
  equivalence)
    # 840 training examples. 2 × 13 = 26 (840 = 32·26 + 8: the last global batch is 4 + 4);
    # 3 × 9 = 27 (840 = 31·27 + 3: one example for each rank in the last batch).
    for np_batch in 2:13 3:9; do
      np=${np_batch%:*} b=${np_batch#*:} g=$((${np_batch%:*} * ${np_batch#*:}))
      run 0 train "${common[@]}" --epochs 4 --batch $g --out one-$g
      check "one process, --batch $g: exit 0" test $rc -eq 0
      grep 'test accuracy' out.txt >acc-one
      run $np train "${common[@]}" --epochs 4 --batch $b --out np$np
      check "mpirun -np $np --batch $b: exit 0" test $rc -eq 0
      check "  … says the global batch" grep -q "data parallel: $np processes (mpirun), batch $b each: global batch $g" out.txt
      grep 'test accuracy' out.txt >acc-np
      check "  … the same test accuracy as one process with --batch $g" cmp acc-one acc-np
      # float: the sums of the mean gradient in another order (per-rank means scaled and summed over ranks)
      # round differently; 4 epochs of Adam keep the differences below 1e-6 (tests/mpi/mpi_cases.cpp).
      check "  … history and every weight equal to one process's within 1e-5" close np$np one-$g 1e-5
      # The optimizer's step sharded over the processes (the default) against the allreduce step.
      timeout 120 "${mpirun[@]}" -np $np -x XGRAD_DIST_SHARD=0 "$xgrad" train "${common[@]}" --epochs 4 --batch $b \
        --out np$np-whole >out.txt 2>err.txt
      rc=$?
      check "mpirun -np $np --batch $b, XGRAD_DIST_SHARD=0 (the allreduce step): exit 0" test $rc -eq 0
      check "  … history and every weight equal to the sharded step's within 1e-5" close np$np-whole np$np 1e-5
    done
    # A wrong average must show: one process with another batch differs by far more than the tolerance.
    run 0 train "${common[@]}" --epochs 4 --batch 24 --out one-24
    check "(the comparison sees a different run: --batch 24 vs 26 differ)" bash -c "! /usr/bin/python3 close.py one-24 one-26 1e-5 >/dev/null"
    ;;
  rank0_outputs)
    mkdir r0 r1
    timeout 120 "${mpirun[@]}" -np 1 -wdir "$tmp/r0" "$xgrad" train "${common[@]}" --epochs 2 --out out : \
      -np 1 -wdir "$tmp/r1" "$xgrad" train "${common[@]}" --epochs 2 --out out >out.txt 2>err.txt
    rc=$?
    check "two ranks in two directories: exit 0" test $rc -eq 0
    check "rank 0 wrote the outputs" test -f r0/out/model.npz -a -f r0/out/model.json -a -f r0/out/history.csv
    check "rank 1 wrote nothing (no output directory, no staging directory)" bash -c "[[ -z \$(ls -A r1) ]]"
    check "one header, one result, one 'wrote' line on standard output" \
      test "$(grep -c '^xgrad train:' out.txt)$(grep -c '^test accuracy' out.txt)$(grep -c '^wrote ' out.txt)" = 111
    check "model.json records 2 processes" grep -q '"processes": 2' r0/out/model.json
    check "the allreduce time is reported" grep -q '^allreduce (rank 0): .* ms per step' out.txt
    ;;
  resume)
    run 2 train "${common[@]}" --epochs 4 --batch 8 --out full
    check "mpirun -np 2, 4 epochs: exit 0" test $rc -eq 0
    run 2 train "${common[@]}" --epochs 4 --batch 8 --stop-after 2 --out part
    check "mpirun -np 2, --stop-after 2: exit 0" test $rc -eq 0
    run 2 train --resume part --progress none
    check "mpirun -np 2 --resume: exit 0" test $rc -eq 0
    check "  … says where it resumes" grep -q 'resuming part after epoch 2 of 4' out.txt
    check "2 + resume ≡ 4 epochs under mpirun: model.npz byte for byte" cmp full/model.npz part/model.npz
    check "  … and the optimizer's state (resume.npz)" cmp full/resume.npz part/resume.npz
    check "  … and the history's losses and accuracies" bash -c "diff <(cut -d, -f1-6 full/history.csv) <(cut -d, -f1-6 part/history.csv)"
    # Another number of processes: other global batches, not this run continued: a usage error (exit 2) before
    # anything is trained or written, naming both numbers; the checkpoint stays as it was.
    run 2 train "${common[@]}" --epochs 4 --batch 8 --stop-after 2 --out two
    check "mpirun -np 2, --stop-after 2 (for resuming elsewhere): exit 0" test $rc -eq 0
    cp -r two two.before
    run 3 train --resume two --progress none
    check "mpirun -np 3 --resume of a 2-process run: exit 2" test $rc -eq 2
    check "  … naming both numbers and the way" grep -q 'trained by 2 processes (global batch 2 × 8); resuming it with 3 processes .*mpirun -np 2' err.txt
    check "  … printed once (by rank 0)" test "$(grep -c 'trained by 2 processes' err.txt)" -eq 1
    run 0 train --resume two --progress none
    check "one process --resume of a 2-process run: exit 2" test $rc -eq 2
    check "  … naming both numbers" grep -q 'resuming it with 1 process would' err.txt
    check "the checkpoint is unchanged by the refusals" diff -r two two.before
    run 1 train --resume two --progress none
    check "mpirun -np 1 counts as one process: exit 2" test $rc -eq 2
    run 2 train --resume two --progress none
    check "and with mpirun -np 2 it resumes: exit 0" test $rc -eq 0
    check "  … to the uninterrupted run's weights" cmp full/model.npz two/model.npz
    # A one-process checkpoint under mpirun -np 2: refused the same way.
    run 0 train "${common[@]}" --epochs 2 --batch 8 --stop-after 1 --out one
    check "one process, --stop-after 1: exit 0" test $rc -eq 0
    run 2 train --resume one --progress none
    check "mpirun -np 2 --resume of a one-process run: exit 2" test $rc -eq 2
    check "  … saying to resume it without mpirun" grep -q 'trained by 1 process (global batch 1 × 8); resuming it with 2 processes .*one process (without mpirun)' err.txt
    ;;
  killed_rank)
    # A checkpoint after epoch 1 of 3; the resumed run loses rank 1 after its 20th batch of epoch 2 (of 53).
    run 2 train "${common[@]}" --epochs 3 --batch 8 --stop-after 1 --out ck
    check "the checkpoint after epoch 1: exit 0" test $rc -eq 0
    cp -r ck ck.before
    timeout 120 "${mpirun[@]}" -np 2 -x XGRAD_TEST_KILL=1:20 "$xgrad" train --resume ck --progress none \
      >out.txt 2>err.txt
    rc=$?
    check "the job ends (no hang): exit $rc, neither 0 nor timeout's 124" test $rc -ne 0 -a $rc -ne 124
    check "the hook fired on rank 1 after its 20th batch" grep -q 'rank 1 kills itself (SIGKILL) after 20 batches' err.txt
    check "mpirun names the lost rank and its signal" grep -q 'process rank 1 .* exited on signal 9' err.txt
    check "rank 0 wrote no result" bash -c "! grep -q '^test accuracy' out.txt"
    check "the checkpoint is intact (every file as before)" diff -r ck ck.before
    check "no staging directory left beside it" bash -c "! compgen -G '.ck.xgrad-tmp-*' >/dev/null"
    run 2 train --resume ck --progress none
    check "and it resumes: exit 0" test $rc -eq 0
    ;;
  mismatch)
    timeout 120 "${mpirun[@]}" -np 1 "$xgrad" train --dataset spiral --epochs 1 --layers 8 --progress none --out a : \
      -np 1 "$xgrad" train --dataset spiral --epochs 1 --layers 32 --progress none --out a >out.txt 2>err.txt
    rc=$?
    check "other flags on rank 1: usage error (exit 2)" test $rc -eq 2
    check "  … naming rank 1" grep -q 'rank 1 of 2 was started with other flags than rank 0' err.txt
    check "  … before training (nothing written)" test ! -e a
    # The same flags, other files: each rank runs in its own directory with its own train.csv.
    mkdir r0 r1
    for r in 0 1; do
      { echo "x,y,label"; for i in $(seq 1 60); do echo "$((i % 7)).$((i % 3 + r)),$((i % 5)).$((i % 4)),$((i % 2))"; done; } >r$r/train.csv
      cp r0/train.csv r$r/test.csv 2>/dev/null
    done
    flags=(train --train train.csv --test test.csv --layers 4 --epochs 1 --progress none)
    timeout 120 "${mpirun[@]}" -np 1 -wdir "$tmp/r0" "$xgrad" "${flags[@]}" : \
      -np 1 -wdir "$tmp/r1" "$xgrad" "${flags[@]}" >out.txt 2>err.txt
    rc=$?
    check "other data on rank 1: usage error (exit 2)" test $rc -eq 2
    check "  … naming rank 1 and the data" grep -q 'rank 1 of 2 read other data than rank 0' err.txt
    check "  … before training (nothing written)" test ! -e r0/xgrad-out -a ! -e r1/xgrad-out
    # Only train is data parallel: the other subcommands would all write the same outputs.
    run 2 predict --model nowhere --input r0/test.csv --output p.csv
    check "mpirun -np 2 xgrad predict: usage error (exit 2)" test $rc -eq 2
    check "  … saying only train runs on several processes" grep -q 'only xgrad train runs on several processes' err.txt
    check "  … nothing written" test ! -e p.csv
    ;;
  *)
    echo "unknown case $case_name"
    exit 2
    ;;
esac
finish
