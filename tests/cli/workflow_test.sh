#!/usr/bin/env bash
# The file workflow of the xgrad command, end to end on small files this script writes:
#   workflow_test.sh XGRAD_BINARY CASE      (CASE: files, predict, resume, numpy, chart_xml, cnn)
#   files    --train/--test/--val, text labels, a named label column, no header, IDX files; every label of the
#            other files checked against the training file's classes; evaluate on a whole file with the
#            training statistics
#   predict  xgrad predict's CSV parsed back and checked against evaluate's counts and against the same rows
#            predicted alone
#   resume   train 4 epochs ≡ train 2 (of 4) + --resume: model.npz byte for byte
#   numpy    model.npz + model.json applied with numpy alone (the block of docs/workflow.md) give predict's
#            probabilities
#   chart_xml  a run whose names hold < & > " ' writes SVG that python3's XML parser reads
#   cnn      --model ARCH with batchnorm, dropout and layernorm on 28×28 IDX images this script writes:
#            evaluate and predict reproduce the run's test numbers (evaluation mode, batch_norm's running
#            statistics from the checkpoint), resume ≡ uninterrupted byte for byte, bad strings and models too
#            big for memory or for model.npz refused before anything is built; xgrad filters draws the first
#            conv layer's filters as SVG
set -uo pipefail
xgrad=$1
[[ $xgrad == /* ]] || xgrad=$PWD/$xgrad
case_name=$2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
source "$here/checks.sh"

# iris_like FILE N SEED [HEADER]: N rows of two features and a text label (three well separated classes).
iris_like() {
  /usr/bin/python3 - "$@" <<'PY'
import random, sys
path, n, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
header = sys.argv[4] if len(sys.argv) > 4 else "sepal,petal,species"
r = random.Random(seed)
names = ["virginica", "setosa", "versicolor"]  # not in sorted order: the classes are sorted by name
with open(path, "w") as f:
    if header != "none":
        f.write(header + "\n")
    for i in range(n):
        c = i % 3
        f.write(f"{10 + 3 * c + r.gauss(0, 0.4):.3f},{-5 + 2 * c + r.gauss(0, 0.4):.3f},{names[c]}\n")
PY
}

run() { "$xgrad" "$@" --progress none >"$tmp/log" 2>&1; }

# idx_files N_TRAIN N_TEST SIDE NOISE: train-* and t10k-* IDX files (gzip) of SIDE×SIDE images, as MNIST ships
# them: labels i % 10, pixels uniform in [0, NOISE) but for the class's SIDE²/16 bright pixels in a run at
# class·SIDE²/16 (with SIDE 4: the class is the bright pixel).
idx_files() {
  /usr/bin/python3 - "$@" <<'PY'
import gzip, random, struct, sys
n_train, n_test, side, noise = map(int, sys.argv[1:5])
run = side * side // 16
r = random.Random(5)
for prefix, n in (("train", n_train), ("t10k", n_test)):
    labels = [i % 10 for i in range(n)]
    pixels = bytearray()
    for l in labels:
        img = [r.randrange(0, noise) for _ in range(side * side)]
        img[l * run:(l + 1) * run] = [255] * run
        pixels += bytes(img)
    with gzip.open(f"{prefix}-images-idx3-ubyte.gz", "wb") as f:
        f.write(struct.pack(">IIII", 0x803, n, side, side) + bytes(pixels))
    with gzip.open(f"{prefix}-labels-idx1-ubyte.gz", "wb") as f:
        f.write(struct.pack(">II", 0x801, n) + bytes(labels))
PY
}

case $case_name in
  files)
    iris_like train.csv 120 1
    iris_like val.csv 30 2
    iris_like test.csv 45 3
    run train --train train.csv --test test.csv --val val.csv --layers 8 --epochs 40 --lr 0.01 --out m
    check "train --train --test --val exits 0" test $? -eq 0
    check "  … uses the whole files: 120 train, 30 validation, 45 test examples" \
      grep -q 'examples: 120 train, 30 validation, 45 test; 2 features, 3 classes' "$tmp/log"
    acc=$(grep -oE 'test accuracy [0-9.]+' "$tmp/log" | awk '{print $3}')
    check "  … learns the separable classes (test accuracy $acc% ≥ 90%)" awk -v a="$acc" 'BEGIN { exit !(a >= 90) }'
    check "model.json: class names sorted from the training file's text labels, feature names from its header, and the training mean and std" \
      /usr/bin/python3 - m/model.json train.csv <<'PY'
import csv, json, statistics, sys
m = json.load(open(sys.argv[1]))["inputs"]
rows = list(csv.reader(open(sys.argv[2])))
assert m["class_names"] == sorted({r[2] for r in rows[1:]}), m["class_names"]
assert m["feature_names"] == rows[0][:2], m["feature_names"]
for k in range(2):
    col = [float(r[k]) for r in rows[1:]]
    mean, std = statistics.fmean(col), statistics.pstdev(col)
    assert abs(m["standardize"]["mean"][k] - mean) <= 1e-5 * abs(mean), (m["standardize"]["mean"], mean)
    assert abs(m["standardize"]["std"][k] - std) <= 1e-5 * std, (m["standardize"]["std"], std)
PY
    "$xgrad" evaluate --model m >"$tmp/eval" 2>&1
    check "evaluate --model DIR scores the run's test file whole, with train's accuracy" grep -q "on .*test.csv (the whole file, 45 examples): accuracy $acc%" "$tmp/eval"
    # A file of the lowest class alone: standardized with its own statistics it would sit at the centre, where
    # the middle class is; with the training statistics its rows are classified as in the test file.
    grep -E ',virginica$' test.csv | sed '1i sepal,petal,species' >virginica.csv
    "$xgrad" evaluate m/model.npz --data virginica.csv >"$tmp/eval" 2>&1
    va=$(grep -oE 'accuracy [0-9.]+' "$tmp/eval" | awk '{print $2}')
    check "evaluate --data FILE: the whole file (15 rows) with the training statistics (accuracy $va% ≥ 90%)" \
      bash -c "grep -q 'virginica.csv (the whole file, 15 examples)' '$tmp/eval' && awk -v a='$va' 'BEGIN { exit !(a >= 90) }'"
    run train --train train.csv --test test.csv --val-fraction 0.25 --layers 8 --epochs 2 --out f
    check "--val-fraction 0.25: 90 train, 30 validation" grep -q 'examples: 90 train, 30 validation, 45 test' "$tmp/log"
    # The label column by name, not last.
    iris_like named.csv 60 4 "sepal,petal,species"
    /usr/bin/python3 -c "
import csv, sys
rows = list(csv.reader(open('named.csv')))
csv.writer(open('middle.csv', 'w', newline='')).writerows([[r[0], r[2], r[1]] for r in rows])"
    run train --train middle.csv --test middle.csv --label-column species --layers 4 --epochs 2 --out n
    check "--label-column species (the middle column) exits 0" grep -q '2 features, 3 classes' "$tmp/log"
    # Every label of the validation and test files must be one of the training file's classes.
    { head -n 10 test.csv; echo '11.0,-3.0,rose'; tail -n 3 test.csv; } >rose.csv
    expect_error test_label_unknown 1 "rose.csv:11: label 'rose' in column 3 \('species'\) is not one of the 3 classes of the training file \('setosa', 'versicolor', 'virginica'\)" \
      train --train train.csv --test rose.csv --out x
    check "  … nothing written" test ! -e x
    expect_error val_label_unknown 1 "rose.csv:11: label 'rose'" train --train train.csv --test test.csv --val rose.csv --out x
    printf 'a,b,label\n' >nums.csv
    for i in $(seq 1 30); do echo "$i,$((i * 7 % 5)),$((i % 3))" >>nums.csv; done
    printf 'a,b,label\n1,2,0\n3,4,5\n' >nums_test.csv
    expect_error test_label_5_of_3 1 "nums_test.csv:3: label '5' in column 3 \('label'\) is not one of the 3 classes of the training file \('0', '1', '2'\)" \
      train --train nums.csv --test nums_test.csv --out x
    printf 'b,a,label\n1,2,0\n' >swapped.csv
    expect_error test_columns_differ 1 "swapped.csv:1: column 1 \('b'\) should be 'a', feature 1 of the training file" \
      train --train nums.csv --test swapped.csv --out x
    # Advice for a command-line user, not for a C++ caller.
    tail -n +2 nums.csv >noheader.csv
    expect_error cli_advice 1 "noheader.csv:1: .* holds only numbers: if the file has no header, pass --no-header" \
      train --train noheader.csv --test noheader.csv --out x
    check "  … no C++ advice (csv_options)" bash -c "! grep -q csv_options '$tmp/stderr'"
    { echo 'a,b,label'; for i in $(seq 1 30); do echo "$i,$((i * 7 % 5)),$((i % 3))"; done; echo '3,3,5'; } >gap.csv
    expect_error cli_advice_gap 1 "gap.csv:32: label 5 .* makes 6 classes" train --train gap.csv --test nums_test.csv --out x
    check "  … no C++ advice (csv_options)" bash -c "! grep -q csv_options '$tmp/stderr'"
    run train --train noheader.csv --test noheader.csv --no-header --layers 4 --epochs 2 --out h
    check "--no-header: a table without names trains" grep -q '2 features, 3 classes' "$tmp/log"
    # Usage errors.
    expect_error train_without_test 2 '--train FILE needs --test FILE' train --train train.csv --out x
    expect_error dataset_and_train 2 '--dataset and --train both name the data' train --dataset spiral --train train.csv --test test.csv --out x
    expect_error missing_test_file 2 '--test none.csv: no such file' train --train train.csv --test none.csv --out x
    expect_error bad_fraction 2 '--val-fraction must be above 0 and below 1' train --train train.csv --test test.csv --val-fraction 1 --out x
    # IDX files (as MNIST ships them): an images file and the labels file beside it.
    idx_files 200 50 4 40
    run train --train train-images-idx3-ubyte.gz --test t10k-images-idx3-ubyte.gz --layers 16 --epochs 30 --lr 0.01 --out i
    check "IDX files: --train/--test take images files (their labels beside them)" \
      grep -q 'examples: 175 train, 25 validation, 50 test; 16 features, 10 classes' "$tmp/log"
    "$xgrad" evaluate --model i >"$tmp/eval" 2>&1
    check "  … evaluate scores the IDX test file whole" grep -q 't10k-images-idx3-ubyte.gz (the whole file, 50 examples)' "$tmp/eval"
    # The same files as an MNIST directory (--dataset mnist --data DIR, as the main job reads Fashion-MNIST):
    # evaluate --data and predict --input take its IDX files.
    run train --dataset mnist --data . --layers 16 --epochs 2 --out d
    "$xgrad" evaluate --model d --data t10k-images-idx3-ubyte.gz >"$tmp/eval" 2>&1
    check "--dataset mnist: evaluate --data takes the IDX test file" grep -q '(the whole file, 50 examples)' "$tmp/eval"
    workdir=$PWD
    (cd / && "$xgrad" evaluate --model "$workdir/d") >"$tmp/eval" 2>&1
    check "  … and without --data, from another directory, the directory it was trained on" \
      grep -q 'on mnist (test split, 50 examples): accuracy' "$tmp/eval"
    "$xgrad" predict --model d --input t10k-images-idx3-ubyte.gz --output d.csv >/dev/null 2>&1
    check "  … and predict --input: 50 rows" test "$(wc -l <d.csv)" -eq 51
    ;;
  predict)
    iris_like train.csv 120 1
    iris_like test.csv 45 3
    run train --train train.csv --test test.csv --layers 8 --epochs 10 --lr 0.01 --out m
    check "train exits 0" test $? -eq 0
    "$xgrad" predict --model m --input test.csv --output p.csv >"$tmp/log" 2>&1
    check "predict --model DIR --input FILE --output FILE exits 0" test $? -eq 0
    check "  … says what it wrote" grep -q 'xgrad predict: 45 rows of test.csv → p.csv' "$tmp/log"
    "$xgrad" evaluate --model m --data test.csv >"$tmp/eval" 2>&1
    check "predictions.csv: one row per input row, in order, joined back to the input, probabilities that sum to 1, the class of the largest; its confusion matrix and accuracy are evaluate's" \
      /usr/bin/python3 - p.csv test.csv m/model.json "$tmp/eval" <<'PY'
import csv, json, re, sys
pred = list(csv.DictReader(open(sys.argv[1])))
rows = list(csv.DictReader(open(sys.argv[2])))
names = json.load(open(sys.argv[3]))["inputs"]["class_names"]
assert len(pred) == len(rows) == 45, (len(pred), len(rows))
confusion = {(t, p): 0 for t in names for p in names}
for k, (p, r) in enumerate(zip(pred, rows)):
    assert int(p["row"]) == k and p["label"] == r["species"], (k, p, r)
    probs = [float(p["p_" + c]) for c in names]
    assert abs(sum(probs) - 1) < 1e-6, probs
    assert p["predicted"] == names[probs.index(max(probs))], p
    confusion[p["label"], p["predicted"]] += 1
text = open(sys.argv[4]).read()
accuracy = float(re.search(r"accuracy ([0-9.]+)%", text).group(1))
right = sum(confusion[c, c] for c in names)
assert f"{100 * right / 45:.2f}" == f"{accuracy:.2f}", (right, accuracy)
table = text.split("predicted →\n")[1].splitlines()[1:]
for line in table:
    number, name, *counts = line.split()  # rows "2 virginica  0 1 12": number, name, counts
    assert names[int(number)] == name, (line, names)
    assert [int(c) for c in counts] == [confusion[name, p] for p in names], (line, confusion)
assert len(table) == len(names)
PY
    # Without the label column (new data), and a few rows alone: the same predictions for the same rows
    # (the training statistics, not the file's, standardize them).
    cut -d, -f1,2 test.csv >unlabelled.csv
    "$xgrad" predict m --input unlabelled.csv >u.csv 2>"$tmp/log"
    check "predict without --output writes to standard output (the message to stderr)" grep -q 'standard output' "$tmp/log"
    "$xgrad" predict m/model.npz test.csv >positional.csv 2>/dev/null
    check "xgrad predict CHECKPOINT FILE (positional) writes the same table" cmp p.csv positional.csv
    cp -r m xgrad-out
    "$xgrad" predict test.csv >default.csv 2>/dev/null
    check "xgrad predict FILE: the model of xgrad-out (train's default --out)" cmp p.csv default.csv
    rm -r xgrad-out
    { head -n 1 test.csv; tail -n 4 test.csv; } >few.csv
    "$xgrad" predict --model m/model.npz --input few.csv --output few_p.csv >/dev/null 2>&1
    check "the rows without labels, and 4 rows alone, get exactly the same predictions and probabilities" \
      /usr/bin/python3 - p.csv u.csv few_p.csv <<'PY'
import csv, sys
full, unlabelled, few = (list(csv.DictReader(open(f))) for f in sys.argv[1:4])
assert "label" not in unlabelled[0]
strip = lambda r: {k: v for k, v in r.items() if k not in ("row", "label")}
assert [strip(r) for r in full] == [strip(r) for r in unlabelled]
assert [strip(r) for r in full[-4:]] == [strip(r) for r in few], (full[-4:], few)
PY
    printf 'sepal,width\n1,2\n' >other.csv
    expect_error predict_other_columns 1 "other.csv:1: column 2 \('width'\) should be 'petal'" predict --model m --input other.csv --output x.csv
    check "  … nothing written" test ! -e x.csv
    expect_error predict_missing_input 2 '--input none.csv: no such file' predict --model m --input none.csv --output x.csv
    expect_error predict_no_model 2 'which model\? xgrad train.s default output xgrad-out does not exist' predict --input test.csv
    ;;
  resume)
    iris_like train.csv 90 1
    iris_like test.csv 30 3
    for opt in adam momentum; do
      common=(--train train.csv --test test.csv --layers 8,8 --epochs 4 --batch 16 --seed 3 --optimizer "$opt")
      run train "${common[@]}" --out full-$opt
      check "$opt: 4 epochs uninterrupted exits 0" test $? -eq 0
      run train "${common[@]}" --stop-after 2 --out part-$opt
      check "$opt: 2 of 4 epochs (--stop-after 2) exits 0" test $? -eq 0
      check "$opt:   … history of 2 epochs" test "$(wc -l <part-$opt/history.csv)" -eq 3
      run train --resume part-$opt
      check "$opt: --resume exits 0" test $? -eq 0
      check "$opt:   … says where it resumes" grep -q 'resuming part-.* after epoch 2 of 4' "$tmp/log"
      check "$opt: 2 + resume ≡ 4 epochs: model.npz byte for byte" cmp full-$opt/model.npz part-$opt/model.npz
      check "$opt:   … and the optimizer's state (resume.npz)" cmp full-$opt/resume.npz part-$opt/resume.npz
      check "$opt:   … and the history's losses and accuracies" bash -c "diff <(cut -d, -f1-6 full-$opt/history.csv) <(cut -d, -f1-6 part-$opt/history.csv)"
    done
    # A generated data set resumes too.
    run train --dataset spiral --epochs 6 --seed 2 --out s-full
    run train --dataset spiral --epochs 6 --stop-after 3 --seed 2 --out s-part
    run train --resume s-part
    check "spiral: 3 + resume ≡ 6 epochs (model.npz)" cmp s-full/model.npz s-part/model.npz
    expect_error resume_done 2 'has done 4 of its epochs already: give --epochs above 4' train --resume full-adam
    run train --resume full-adam --epochs 6 --out longer
    check "--resume --epochs 6 trains 2 more epochs" test "$(wc -l <longer/history.csv)" -eq 7
    expect_error resume_other_settings 2 '--resume continues a run with its own settings, so --lr cannot be given' train --resume part-adam --lr 0.5
    expect_error resume_missing 2 '--resume none: no such directory' train --resume none
    ;;
  chart_xml)
    # Names with the characters XML reserves, in the file name, the columns and the labels.
    name='a<&>"'"'"'b'
    { echo "x<1,y&2,kind\"'"; for i in $(seq 1 60); do echo "$((i % 7)).$((i % 3)),$((i % 5)).$((i % 4)),c<$((i % 2))>&\"'"; done; } >"$name.csv"
    run train --train "$name.csv" --test "$name.csv" --layers 4 --epochs 3 --out x
    check "a run on $name.csv exits 0" test $? -eq 0
    check "training.svg and boundary.svg are XML that python3's parser reads, with the names intact" \
      /usr/bin/python3 - x/training.svg x/boundary.svg "$name" <<'PY'
import sys, xml.etree.ElementTree as ET
texts = []
for f in sys.argv[1:3]:
    texts += ["".join(t.itertext()) for t in ET.parse(f).getroot().iter("{http://www.w3.org/2000/svg}text")]
assert any(sys.argv[3] in t for t in texts), texts
assert any("c<1>&\"'" in t for t in texts), texts
assert any("y&2" in t for t in texts), texts
PY
    # Any epoch count: x tick labels never overlap, markers only for few epochs.
    { echo 'a,b,label'; for i in $(seq 1 24); do echo "$((i % 7)),$((i % 5)),$((i % 2))"; done; } >small.csv
    for n in 1 5 26 50 101 500 1234; do
      run train --train small.csv --test small.csv --layers 2 --epochs $n --batch 32 --out e$n
      check "$n epochs: tick labels at least one label width apart, ending at most at epoch $n; markers only up to 25 epochs" \
        /usr/bin/python3 - e$n/training.svg $n <<'PY'
import sys, xml.etree.ElementTree as ET
ns = "{http://www.w3.org/2000/svg}"
root = ET.parse(sys.argv[1]).getroot()
n = int(sys.argv[2])
texts = [t for t in root.iter(ns + "text") if t.get("text-anchor") == "middle" and (t.text or "").isdigit()]
axis_y = max(float(t.get("y")) for t in texts)
ticks = sorted((float(t.get("x")), int(t.text)) for t in texts if float(t.get("y")) == axis_y)
assert ticks and ticks[0][1] == 1 and ticks[-1][1] <= n, ticks
width = 7 * len(str(n))
for (x0, _), (x1, _) in zip(ticks, ticks[1:]):
    assert x1 - x0 >= width + 7, (ticks, width)
circles = len(list(root.iter(ns + "circle")))
assert (circles > 0) == (n <= 25), (n, circles)
PY
    done
    ;;
  numpy)
    /usr/bin/python3 -c 'import numpy' 2>/dev/null || { echo "skipped: python3-numpy is not installed"; exit 0; }
    doc=$here/../../docs/workflow.md
    # The block of docs/workflow.md after <!-- numpy-predict -->, as it is.
    awk '/<!-- numpy-predict -->/ { on = 1; next } on && /^```python/ { inside = 1; next } inside && /^```/ { exit } inside' "$doc" >apply.py
    check "docs/workflow.md has the numpy block" test -s apply.py
    iris_like train.csv 120 1
    iris_like test.csv 45 3
    for act in relu tanh elu; do
      run train --train train.csv --test test.csv --layers 8,6 --activation $act --epochs 5 --lr 0.01 --out m-$act
      "$xgrad" predict --model m-$act --input test.csv --output p-$act.csv >/dev/null 2>&1
      /usr/bin/python3 apply.py m-$act test.csv >np-$act.txt 2>"$tmp/log"
      check "$act: the numpy block runs on model.npz + model.json" test -s np-$act.txt
      check "$act: numpy alone gives predict's probabilities (to 1e-5) and classes" \
        /usr/bin/python3 - p-$act.csv np-$act.txt <<'PY'
import csv, sys
pred = list(csv.DictReader(open(sys.argv[1])))
mine = [line.split() for line in open(sys.argv[2])]
assert len(pred) == len(mine) == 45, (len(pred), len(mine))
names = [k[2:] for k in pred[0] if k.startswith("p_")]
for p, m in zip(pred, mine):
    probs = [float(v) for v in m[2:]]
    assert int(m[0]) == int(p["row"]), (p, m)
    assert all(abs(a - float(p["p_" + c])) <= 1e-5 for a, c in zip(probs, names)), (p, m)
    top = sorted(probs)[-2:]
    assert m[1] == p["predicted"] or top[1] - top[0] < 1e-5, (p, m)
PY
    done
    ;;
  cnn)
    idx_files 300 60 28 60
    arch='conv3:4,batchnorm,relu,maxpool2,dropout:0.25,conv3:8/s2,layernorm,relu,avgpool2/s1,gap,fc:16,batchnorm,relu,dropout:0.1'
    common=(--dataset fashion-mnist --data . --model "$arch" --epochs 6 --lr 0.01 --batch 32 --seed 3)
    run train "${common[@]}" --out full
    check "train --model with batchnorm, dropout, layernorm exits 0" test $? -eq 0
    cp "$tmp/log" full.log
    check "  … the model line names every layer" grep -q 'model: conv3x3:4,batchnorm,relu,maxpool2,dropout:0.25,conv3x3:8/s2,layernorm,relu,avgpool2/s1,gap,fc:16,batchnorm,relu,dropout:0.1,fc:10 (1×28×28 → 10)' full.log
    check "  … model.npz holds batch_norm's running statistics" \
      /usr/bin/python3 -c 'import sys, zipfile; n = zipfile.ZipFile("full/model.npz").namelist(); sys.exit(not all(k in n for k in ("1.running_mean.npy", "1.running_var.npy", "11.running_var.npy")))'
    test_line=$(grep -oE 'test accuracy [0-9.]+% \(60 examples\), test loss [0-9.]+' full.log)
    "$xgrad" evaluate full --data . >eval.log 2>&1
    check "evaluate reproduces the run's test accuracy and loss ($test_line)" \
      bash -c "[[ -n '$test_line' ]] && grep -q \"accuracy $(echo "$test_line" | grep -oE '[0-9.]+%'), loss $(echo "$test_line" | grep -oE '[0-9.]+$')\" eval.log"
    "$xgrad" predict full t10k-images-idx3-ubyte.gz --output p.csv >/dev/null 2>&1
    check "predict's classes give evaluate's accuracy (evaluation mode)" /usr/bin/python3 - p.csv eval.log <<'PY'
import csv, re, sys
rows = list(csv.DictReader(open(sys.argv[1])))
acc = 100 * sum(r["label"] == r["predicted"] for r in rows) / len(rows)
want = float(re.search(r"accuracy ([0-9.]+)%", open(sys.argv[2]).read()).group(1))
assert len(rows) == 60 and f"{acc:.2f}" == f"{want:.2f}", (acc, want)
PY
    run train "${common[@]}" --stop-after 3 --out part
    run train --resume part
    check "--resume of --model ARCH exits 0" test $? -eq 0
    check "  … resumes the architecture" grep -q "model: conv3x3:4,batchnorm" "$tmp/log"
    check "3 + resume ≡ 6 epochs: model.npz byte for byte (weights and running statistics)" cmp full/model.npz part/model.npz
    check "  … and resume.npz" cmp full/resume.npz part/resume.npz
    check "  … and the history's losses and accuracies (dropout's masks drawn alike)" \
      bash -c "diff <(cut -d, -f1-6 full/history.csv) <(cut -d, -f1-6 part/history.csv)"
    # xgrad filters: the first conv layer's 4 filters of 3×3, as SVG that python3's XML parser reads (the title
    # holds the checkpoint's path, here with the characters XML reserves).
    cp -r full 'f<&>"'
    "$xgrad" filters 'f<&>"' --output filters.svg >"$tmp/log" 2>&1
    check "filters exits 0 and says what it drew" grep -q 'wrote filters.svg (4 filters of layer 1, conv2d(1×28×28 → 4×28×28' "$tmp/log"
    check "  … valid SVG: 4 filters of 3×3 squares, coloured by the weights, and the path in the title" \
      /usr/bin/python3 - filters.svg full/model.npz <<'PY'
import sys, xml.etree.ElementTree as ET
ns = "{http://www.w3.org/2000/svg}"
root = ET.parse(sys.argv[1]).getroot()
groups = [g for g in root.iter(ns + "g")]
assert len(groups) == 4, len(groups)
for g in groups:
    squares = [r for r in g.iter(ns + "rect") if r.get("fill") != "none"]
    assert len(squares) == 9, len(squares)
fills = {r.get("fill") for r in root.iter(ns + "rect")}
assert any(f.startswith("rgb(255,") for f in fills) and any(f.endswith(",255)") for f in fills), fills
assert any('f<&>"/model.npz' in "".join(t.itertext()) for t in root.iter(ns + "text"))
PY
    "$xgrad" train --dataset fashion-mnist --data . --layers 8 --epochs 1 --progress none --out mlp >/dev/null 2>&1
    expect_error filters_without_conv 2 'mlp/model.npz has no conv layer to draw' filters mlp --output none.svg
    check "  … nothing written" test ! -e none.svg
    # Bad architecture strings name the layer's position; too big a model is refused before anything is built.
    expect_error model_bad_dropout 2 "layer 2 'dropout:1.5': the drop probability must be a number in \[0, 1\)" \
      train --dataset fashion-mnist --data . --model conv3:4,dropout:1.5 --out x
    expect_error model_bad_batchnorm 2 "layer 3 'batchnorm:4': batchnorm takes no arguments" \
      train --dataset fashion-mnist --data . --model conv3:4,relu,batchnorm:4 --out x
    expect_error model_too_big_for_checkpoint 2 \
      "--model: the model conv3x3:64,fc:2000000,fc:10 .* has [0-9]+ parameters; too many for a model.npz" \
      train --dataset fashion-mnist --data . --model conv3:64,fc:2000000 --out x
    # Under a limit of 7.6 GiB, whatever this machine's memory (a subshell). Not under AddressSanitizer, which
    # needs terabytes of address space (as in cli_test.sh; ldd's whole output is read first).
    if [[ $(ldd "$xgrad" 2>/dev/null) == *libasan* ]]; then
      echo "skipped under AddressSanitizer: the ulimit -v check"
    else
      failed_before=$failed
      (ulimit -v 8000000 && expect_error model_too_big_for_memory 2 \
        "--model: the model conv3x3:20000,fc:10 .*more than the .* this process may use" \
        train --dataset fashion-mnist --data . --model conv3:20000 --batch 64 --out x &&
        [[ $failed -eq $failed_before ]]) || failed=$((failed + 1))
    fi
    check "  … nothing written" test ! -e x
    ;;
  *)
    echo "unknown case $case_name"
    exit 2
    ;;
esac

finish
