#!/usr/bin/env bash
# Two settings of one XGRAD_DIST_* environment variable against each other, the same binary, alternating:
# examples/s of `mpirun -np 2 xgrad train` with VAR set to each of VALUES, per-rank batch 32 and 64, the time
# rank 0 is blocked in the collectives per step and, where the transport reports it, the part of it spent
# waiting in barriers. bench/dist_shm.sh and bench/dist_shard.sh call it (docs/distributed.md).
#   VAR=XGRAD_DIST_… VALUES="1 0" [BATCHES=32] bench/dist_env.sh XGRAD DATA_DIR [ROUNDS] [EPOCHS] [extra flags for
#   xgrad train, e.g. --model cnn]
# Each round starts with one process × 1 thread at batch 64 (the baseline of the speed-ups; ONE=0 skips it).
# examples/s: the median of epochs 2 … EPOCHS from history.csv (as bench/dist.sh).
set -uo pipefail
xgrad=$1 data=$2 rounds=${3:-3} epochs=${4:-3}
shift $(($# < 4 ? $# : 4))
extra=("$@")
batches=(32 64)
[[ ${BATCHES:-} ]] && read -ra batches <<<"$BATCHES"  # e.g. BATCHES=32
var=${VAR:?VAR=XGRAD_DIST_SHM or XGRAD_DIST_SHARD}
read -ra values <<<"${VALUES:-1 0}"  # the values of $var to alternate, e.g. VALUES="1 sums 0"
mpirun=(mpirun --allow-run-as-root --oversubscribe --bind-to none)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
prio() {
  setsid bash -c 'echo -20 >/proc/self/autogroup 2>/dev/null; exec nice -n -20 "$@" 2>/dev/null || exec "$@"' _ "$@"
}
run() {  # VALUE BATCH
  local name="${var#XGRAD_DIST_}=$1, 2 processes x batch $2"
  local log rates steady blocked wait
  log=$(export "$var=$1" && prio "${mpirun[@]}" -x "$var" -np 2 "$xgrad" train --threads 1 --batch "$2" \
    --data "$data" --epochs "$epochs" --progress none --out "$out/r" "${extra[@]}" 2>&1)
  rates=$(tail -n +2 "$out/r/history.csv" 2>/dev/null | cut -d, -f8)
  ((epochs > 1)) || rates="x"$'\n'"$rates"  # one epoch: epoch 1's rate
  steady=$(tail -n +2 <<<"$rates" | sort -n | awk '{a[NR] = $1} END {if (NR) print a[int((NR + 1) / 2)]}')
  blocked=$(grep -o 'allreduce (rank 0): [0-9.]* ms per step' <<<"$log" | grep -o '[0-9.]* ms')
  wait=$(grep -o '[0-9.]* ms per step waiting' <<<"$log" | grep -o '[0-9.]* ms')
  [[ $wait ]] && blocked="$blocked (waiting $wait)"
  printf '%-32s %8s examples/s  blocked %s per step\n' "$name" "${steady:-FAILED}" "$blocked"
}
one() {  # one process × 1 thread, batch 64: the baseline of the issue's 1.8×
  local rates steady
  prio "$xgrad" train --threads 1 --batch 64 --data "$data" --epochs "$epochs" --progress none --out "$out/one" \
    "${extra[@]}" >/dev/null 2>&1
  rates=$(tail -n +2 "$out/one/history.csv" 2>/dev/null | cut -d, -f8)
  ((epochs > 1)) || rates="x"$'\n'"$rates"
  steady=$(tail -n +2 <<<"$rates" | sort -n | awk '{a[NR] = $1} END {if (NR) print a[int((NR + 1) / 2)]}')
  printf '%-32s %8s examples/s\n' "1 process x batch 64" "${steady:-FAILED}"
}
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq 1 "$rounds"); do
  echo "round $r"
  [[ ${ONE:-1} == 0 ]] || one
  for b in "${batches[@]}"; do
    for v in "${values[@]}"; do run "$v" "$b"; done
  done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
