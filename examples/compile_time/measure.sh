#!/usr/bin/env bash
# Time to compile one user model file from scratch: examples/downstream/main.cpp (xgrad) against
# torch_spiral.cpp, the same program written with libtorch (Debian's libtorch-dev). Each file is compiled
# 3 times per configuration, alternating; the median wall time and the median CPU time (user + sys) are
# printed. Flags are those of a CMake build of the downstream project (Release: -O3 -DNDEBUG; Debug: -g).
#
#   examples/compile_time/measure.sh [XGRAD_PREFIX]
#
# XGRAD_PREFIX is an installed xgrad (cmake --install build --prefix P); without it the source tree's
# headers are used with build/generated/include (for version.hpp). libtorch is used for this measurement
# only: apt-get install libtorch-dev. Never a dependency of xgrad.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cxx="${CXX:-g++}"
if [[ $# -ge 1 ]]; then
  xgrad_inc=(-isystem "$1/include")
else
  xgrad_inc=(-isystem "$root/include" -isystem "$root/build/generated/include")
fi
torch_inc=/usr/include/torch/csrc/api/include
if [[ ! -f "$torch_inc/torch/torch.h" ]]; then
  echo "measure.sh: libtorch headers not found ($torch_inc); apt-get install libtorch-dev" >&2
  exit 2
fi

xgrad_cmd=("$cxx" -std=gnu++20 -DFMT_SHARED "${xgrad_inc[@]}" -I "$root/examples/downstream"
           -c "$root/examples/downstream/main.cpp" -o /dev/null)
torch_cmd=("$cxx" -std=gnu++20 -isystem "$torch_inc" -c "$root/examples/compile_time/torch_spiral.cpp"
           -o /dev/null)

# one_run CMD... → "wall cpu" in seconds
timing=$(mktemp)
trap 'rm -f "$timing"' EXIT
one_run() {
  /usr/bin/time -o "$timing" -f "%e %U %S" "$@" >/dev/null 2>&1 || { echo "measure.sh: failed: $*" >&2; exit 1; }
  awk '{ printf "%.2f %.2f\n", $1, $2 + $3 }' "$timing"
}
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

echo "machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GB", $2 / 1048576 }' /proc/meminfo), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "compiler: $("$cxx" --version | head -1)"
for config in "Release:-O3 -DNDEBUG" "Debug:-g"; do
  name="${config%%:*}"
  read -r -a flags <<<"${config#*:}"
  xw=(); xc=(); tw=(); tc=()
  for _ in 1 2 3; do
    read -r w c < <(one_run "${xgrad_cmd[@]}" "${flags[@]}"); xw+=("$w"); xc+=("$c")
    read -r w c < <(one_run "${torch_cmd[@]}" "${flags[@]}"); tw+=("$w"); tc+=("$c")
  done
  xwm=$(printf '%s\n' "${xw[@]}" | median); xcm=$(printf '%s\n' "${xc[@]}" | median)
  twm=$(printf '%s\n' "${tw[@]}" | median); tcm=$(printf '%s\n' "${tc[@]}" | median)
  printf '%-8s xgrad main.cpp   wall %6.2f s  cpu %6.2f s   (runs: %s)\n' "$name" "$xwm" "$xcm" "${xw[*]}"
  printf '%-8s libtorch         wall %6.2f s  cpu %6.2f s   (runs: %s)\n' "$name" "$twm" "$tcm" "${tw[*]}"
  awk -v a="$xwm" -v b="$twm" -v c="$xcm" -v d="$tcm" -v n="$name" \
    'BEGIN { printf "%-8s xgrad / libtorch: %.2f (wall), %.2f (cpu)\n", n, a / b, c / d }'
done
echo "command (xgrad):    ${xgrad_cmd[*]} <flags>"
echo "command (libtorch): ${torch_cmd[*]} <flags>"
