#!/usr/bin/env bash
# Peak memory (maximum resident set size, /usr/bin/time -v) of the loader resource cases of issue 10, for one
# build of xgrad. Not part of ctest (it needs GBs of memory for some "before" builds, and time).
#   tests/io/peaks/peaks.sh BUILD_DIR [WORK_DIR]
# BUILD_DIR holds libxgrad_io.a and libxgrad_core.a (a static build; its headers are taken from the source tree
# it was configured from, so an older build measures the code before a change); WORK_DIR
# (default: a temporary directory) receives the inputs (about 160 MB) and the driver. MNIST's training set is
# measured too when XGRAD_SHARED_DIR/data/mnist exists. XGRAD_PEAKS_LIBS adds libraries to the link (an older
# build that links BLAS: XGRAD_PEAKS_LIBS=-lopenblas).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "$1" && pwd)
src=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$build/CMakeCache.txt")
work=${2:-$(mktemp -d)}
mkdir -p "$work"
[[ -e $work/table.csv ]] || /usr/bin/python3 "$here/make_inputs.py" "$work"
libs=("$build/libxgrad_io.a" "$build/libxgrad_core.a")
extra=$(pkg-config --libs libzip 2>/dev/null || true)
extra+=" $(pkg-config --libs libdeflate 2>/dev/null || true)"  # builds since issue 13 (gzip IDX)
c++ -std=c++20 -O2 "$here/loader_driver.cpp" -I"$src/include" -I"$build/generated/include" "${libs[@]}" \
  $extra ${XGRAD_PEAKS_LIBS:-} -lz -lfmt -ldl -o "$work/driver"
cd "$work"
run() {  # name, command...
  local name=$1
  shift
  set +e
  /usr/bin/time -v "$@" >out.txt 2>time.txt
  set -e
  printf '%-24s %10s kB  %s\n' "$name" "$(awk '/Maximum resident/ {print $6}' time.txt)" "$(head -c 160 out.txt)"
}
run npz.declares_1GB ./driver npz bomb.npz
run idx.gzip_812KB ./driver idx zeros836M-images.gz zeros836M-labels.gz
run idx.gzip_389KB ./driver idx zeros400M-images.gz zeros400M-labels.gz
mnist=${XGRAD_SHARED_DIR:-}/data/mnist
[[ -d $mnist ]] && run idx.mnist_train ./driver idx "$mnist/train-images-idx3-ubyte.gz" "$mnist/train-labels-idx1-ubyte.gz"
run csv.line_64MiB ./driver csv longline.csv noheader
run csv.table_90MB ./driver csv table.csv
run csv.dev_zero bash -c 'ulimit -v 4000000; exec ./driver csv /dev/zero'
run csv.fifo timeout 10 ./driver csv fifo.csv
