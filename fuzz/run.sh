#!/usr/bin/env bash
# Runs libFuzzer targets for a bounded time each and fails on the first crash, leak, timeout or broken
# promise (see harness.hpp).
#   fuzz/run.sh BUILD_DIR SECONDS [TARGET...]        (TARGET: idx csv npz; default all three)
# New inputs go to a temporary corpus (the seeds in fuzz/corpus/<target>/ are only read). A crashing input is
# copied to fuzz/regressions/<target>/crash-<sha1>: fix the bug, keep the file (the test suite replays it).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$1
seconds=$2
shift 2
targets=("$@")
((${#targets[@]})) || targets=(idx csv npz)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
# Symbolized stack traces in crash reports (Debian puts llvm-symbolizer under the versioned LLVM directory).
for s in llvm-symbolizer /usr/lib/llvm-16/bin/llvm-symbolizer /usr/lib/llvm-14/bin/llvm-symbolizer; do
  if command -v "$s" >/dev/null; then export ASAN_SYMBOLIZER_PATH=$(command -v "$s"); break; fi
done
status=0
for t in "${targets[@]}"; do
  bin="$build/fuzz/fuzz_$t"
  [[ -x $bin ]] || { echo "fuzz: $bin not built" >&2; exit 2; }
  mkdir -p "$work/$t" "$work/artifacts-$t"
  # -max_len 8192: room for a small archive; -timeout 10: one input taking longer is a hang;
  # -rss_limit_mb / -malloc_limit_mb: a loader must never allocate what the input does not hold.
  "$bin" "$work/$t" "$here/corpus/$t" -max_total_time="$seconds" -max_len=8192 -timeout=10 \
    -rss_limit_mb=2048 -malloc_limit_mb=512 -print_final_stats=1 \
    -artifact_prefix="$work/artifacts-$t/" >"$work/$t.log" 2>&1
  rc=$?
  runs=$(grep -oE '^stat::number_of_executed_units: *[0-9]+' "$work/$t.log" | grep -oE '[0-9]+$')
  cov=$(grep -E '^#[0-9]+.*(DONE|cov:)' "$work/$t.log" | tail -n 1 | grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+' || true)
  if [[ $rc -eq 0 ]]; then
    echo "fuzz_$t: ${runs:-?} executions in ${seconds} s, no crash (${cov:-no stats}; corpus $(ls "$work/$t" | wc -l) new inputs)"
  else
    status=1
    echo "fuzz_$t: FAILED (exit $rc) after ${runs:-?} executions; the end of its log:"
    tail -n 40 "$work/$t.log"
    mkdir -p "$here/regressions/$t"
    for a in "$work/artifacts-$t"/*; do
      [[ -e $a ]] || continue
      dest="$here/regressions/$t/$(basename "$a")"
      cp "$a" "$dest"
      echo "fuzz_$t: the input is saved as $dest (base64: $(head -c 300 "$a" | base64 -w0))"
    done
  fi
done
exit $status
