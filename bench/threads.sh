#!/usr/bin/env bash
# --threads on one machine (docs/performance.md, "Two threads"): examples/s per epoch of `xgrad train` with
#   1 thread, 2 threads of data parallelism (the default meaning of --threads 2) and 2 BLAS threads
#   (XGRAD_THREADS=blas), alternating in rounds, each run in its own session at the highest priority this user
#   may set (as bench/dist.sh).
#   bench/threads.sh XGRAD DATA_DIR [ROUNDS] [EPOCHS] [extra flags for xgrad train, e.g. --model cnn]
# BASELINE=OTHER_XGRAD adds OTHER_XGRAD's 2 data-parallel threads to each round, right after XGRAD's (to compare
# two builds in the same minute); ONLY_DATA=1 leaves out the BLAS threads.
set -uo pipefail
xgrad=$1 data=$2 rounds=${3:-3} epochs=${4:-3}
shift $(($# < 4 ? $# : 4))
extra=("$@")
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
prio() {
  setsid bash -c 'echo -20 >/proc/self/autogroup 2>/dev/null; exec nice -n -20 "$@" 2>/dev/null || exec "$@"' _ "$@"
}
run() {  # NAME ENV-ASSIGNMENT ARGS...
  local name=$1 mode=$2 bin=$xgrad
  shift 2
  [[ $name == baseline* ]] && bin=$BASELINE
  local log
  log=$(prio env "$mode" "$bin" train --data "$data" --epochs "$epochs" --progress lines --out "$out/$name" \
        "$@" "${extra[@]}" 2>&1)
  printf '%-22s %s\n' "$name" "$(grep -oE '[0-9]+ examples/s' <<<"$log" | grep -oE '^[0-9]+' | tr '\n' ' ')"
}
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "examples/s of epochs 1 … $epochs"
for r in $(seq 1 "$rounds"); do
  run "1 thread" XGRAD_THREADS=data --threads 1
  run "2 threads (data)" XGRAD_THREADS=data --threads 2
  [[ ${BASELINE:-} ]] && run "baseline 2 threads" XGRAD_THREADS=data --threads 2
  [[ ${ONLY_DATA:-} ]] || run "2 BLAS threads" XGRAD_THREADS=blas --threads 2
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
