#!/usr/bin/env bash
# GEMM's share of the cycles of a whole `xgrad train` run (issue 13's "GEMM ≥ 70 % of cycles"; docs/performance.md,
# "Outside GEMM, fourth pass"): perf records the run with DWARF call graphs, and a sample counts as GEMM when
# its leaf is in OpenBLAS or its call chain passes through cblas_sgemm / cblas_dgemm (OpenBLAS's β = 0 pass
# calls memset in libc; OpenBLAS's assembly kernels have no unwind tables, so a chain through them can
# stop inside the library). Every thread's samples count, idle BLAS workers included.
#   bench/gemm_share.sh XGRAD DATA_DIR [ROUNDS=3] [extra flags for xgrad train]
# Needs perf (Debian linux-perf) and a kernel that lets this user record (perf_event_paranoid ≤ 2).
set -uo pipefail
xgrad=$1 data=$2 rounds=${3:-3}
shift $(($# < 3 ? $# : 3))
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq 1 "$rounds"); do
  rm -rf "$out/run"
  perf record -q -F 999 --call-graph dwarf,8192 -o "$out/perf.data" \
    "$xgrad" train --data "$data" --progress none --out "$out/run" "$@" >"$out/log" 2>&1 || {
    cat "$out/log"
    exit 1
  }
  wall=$(grep -oE 'wall time [0-9.]+ s' "$out/log")
  perf script -i "$out/perf.data" -F ip,sym,dso 2>/dev/null |
    awk -v r="$r" -v wall="$wall" 'BEGIN { RS = "" }
      { n++; if ($0 ~ /libopenblas/ || $0 ~ /cblas_[sd]gemm/) g++ }
      END { printf "round %d: GEMM %d of %d samples, %.1f %% (%s)\n", r, g, n, 100 * g / n, wall }'
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
