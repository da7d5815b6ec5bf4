#!/usr/bin/env bash
# The pictures of the xgrad command: xgrad graph (the model xgrad train records) and the decision-boundary
# picture xgrad train writes for 2-D data sets.
#   cli_pictures.sh XGRAD_BINARY
set -uo pipefail
xgrad=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok   - $*"; }
bad() { failed=$((failed + 1)); echo "FAIL - $*"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }
have_dot=0
command -v dot >/dev/null && have_dot=1

# xgrad graph on a 2-D set: the default 2-64-64-2 model, every parameter named, one rule per parameter.
"$xgrad" graph --dataset spiral --out "$tmp/g" >"$tmp/log" 2>&1
check "graph exits 0" test $? -eq 0
check "graph wrote model.dot" test -s "$tmp/g/model.dot"
for p in W1 b1 W2 b2 W3 b3; do
  check "model.dot names parameter $p" grep -q "<b>$p</b>" "$tmp/g/model.dot"
done
check "model.dot shows the input X [2×32]" grep -q 'X</b> <font point-size="10">\[2×32\]' "$tmp/g/model.dot"
check "model.dot has the loss rule dA3 = (softmax(A3) − Y)/m" grep -qF 'dA3 = (softmax(A3) − Y)/m' "$tmp/g/model.dot"
check "model.dot has dW1 = dA1·Xᵀ" grep -qF 'dW1 = dA1·Xᵀ' "$tmp/g/model.dot"
if [[ $have_dot -eq 1 ]]; then
  check "graph rendered model.svg" grep -q '<svg' "$tmp/g/model.svg"
  check "model.dot parses with dot -Tsvg" dot -Tsvg "$tmp/g/model.dot" -o "$tmp/check.svg"
else
  echo "note: Graphviz not installed; rendering not checked"
  check "graph says how to render without Graphviz" grep -q 'apt-get install graphviz' "$tmp/log"
fi

# --values with a PNG, on the image set's shapes without the data: --values needs the data, so use xor.
"$xgrad" graph --dataset xor --layers 3 --batch 4 --values --format dot --out "$tmp/v" >"$tmp/log" 2>&1
check "graph --values exits 0" test $? -eq 0
check "graph --values shows gradients (dW1)" grep -q 'dW1 ' "$tmp/v/model.dot"
check "graph --format dot writes no picture" test ! -e "$tmp/v/model.svg"

# The image set's model, drawn without reading the images.
"$xgrad" graph --dataset fashion-mnist --data "$tmp/nowhere" --format dot --out "$tmp/f" >"$tmp/log" 2>&1
check "graph of the Fashion-MNIST model needs no data" test $? -eq 0
check "  … and is 784-256-10" grep -q '784-256-10' "$tmp/log"

"$xgrad" graph --dataset spiral --format gif --out "$tmp/bad" >"$tmp/log" 2>&1
check "graph rejects an unknown --format" test $? -ne 0

# xgrad train on a 2-D set writes the decision boundary with every training and test point.
"$xgrad" train --dataset circle --epochs 3 --out "$tmp/t" --progress none >"$tmp/log" 2>&1
check "train exits 0" test $? -eq 0
check "train wrote boundary.svg" grep -q '<svg' "$tmp/t/boundary.svg"
check "train says it wrote boundary.svg" grep -q 'boundary.svg' "$tmp/log"
n=$(grep -o '<circle' "$tmp/t/boundary.svg" | wc -l)
# 1200 points: 840 training, 120 validation (not drawn), 240 test; plus 2 legend markers.
check "boundary.svg draws the 840 training and 240 test points (found $((n - 2)))" test "$n" -eq 1082
check "boundary.svg has shaded regions" grep -q '<path fill=' "$tmp/t/boundary.svg"
check "no temporary files or staging directories left" bash -c "[[ -z \$(find '$tmp' '$tmp/t' -maxdepth 1 \( -name '*.tmp-*' -o -name '.*.xgrad-tmp-*' \) -print -quit) ]]"
if command -v rsvg-convert >/dev/null; then
  check "boundary.svg renders (rsvg-convert)" rsvg-convert -o "$tmp/b.png" "$tmp/t/boundary.svg"
fi

# A data set with more than 2 features gets no boundary picture.
{
  echo "a,b,c,label"
  for i in $(seq 1 40); do echo "$((i % 7)),$((i % 5)),$((i % 3)),$((i % 2))"; done
} >"$tmp/three.csv"
"$xgrad" train --dataset "csv:$tmp/three.csv" --layers 4 --epochs 1 --out "$tmp/c" --progress none >"$tmp/log" 2>&1
check "train on 3 features exits 0" test $? -eq 0
check "  … and writes no boundary.svg" test ! -e "$tmp/c/boundary.svg"

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
