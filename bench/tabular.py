#!/usr/bin/python3
"""xgrad train --train/--val/--test beside scikit-learn's MLPClassifier on public tabular data sets.

The data sets are the four classification tables Debian's python3-sklearn ships (iris, wine, breast cancer,
digits: the UCI sets, as CSV inside the package). Each is split once, stratified, with a fixed seed, into
train / validation / test CSV files with a header row and the label in the last column (text labels where
the set has class names). Both contenders see exactly the same rows:

  xgrad:   xgrad train --train train.csv --val val.csv --test test.csv --layers 256 --optimizer adam
           --lr 0.001 --batch B --epochs E --seed S        (standardises with the training file's statistics)
  sklearn: StandardScaler fitted on train.csv, then MLPClassifier(hidden_layer_sizes=(256,), relu, adam,
           learning_rate_init=0.001, batch_size=B, max_iter=E, alpha=0 (no L2: xgrad has none),
           random_state=S), trained on train.csv; val.csv is not used by it.

Both report the accuracy on test.csv, for several seeds (initialisation and shuffling).

  bench/tabular.py XGRAD_BINARY [WORK_DIR] [--epochs E] [--batch B] [--seeds N]
"""

import argparse
import csv
import os
import statistics
import subprocess
import sys
import warnings

import numpy as np
from sklearn import datasets
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

SETS = {
    "iris": datasets.load_iris,
    "wine": datasets.load_wine,
    "breast_cancer": datasets.load_breast_cancer,
    "digits": datasets.load_digits,
}


def write_csv(path, features, x, labels):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(list(features) + ["label"])
        for row, label in zip(x, labels):
            w.writerow([repr(float(v)) for v in row] + [label])


def split(name, load, work):
    """Writes WORK/NAME/{train,val,test}.csv: 25 % test, then 12.5 % of the rest validation (stratified)."""
    d = load()
    features = d.feature_names if hasattr(d, "feature_names") else [f"x{i}" for i in range(d.data.shape[1])]
    features = [f.replace(",", ";") for f in features]
    names = [str(n).replace(",", ";") for n in d.target_names]
    # Text labels where the set names its classes by words (digits' names are the digits themselves).
    labels = np.array([names[t] for t in d.target])
    x_rest, x_test, y_rest, y_test = train_test_split(d.data, labels, test_size=0.25, stratify=labels,
                                                      random_state=0)
    x_train, x_val, y_train, y_val = train_test_split(x_rest, y_rest, test_size=0.125, stratify=y_rest,
                                                      random_state=0)
    out = os.path.join(work, name)
    os.makedirs(out, exist_ok=True)
    for part, x, y in (("train", x_train, y_train), ("val", x_val, y_val), ("test", x_test, y_test)):
        write_csv(os.path.join(out, f"{part}.csv"), features, x, y)
    return out, (x_train, y_train, x_test, y_test), len(names)


def xgrad_accuracy(binary, folder, epochs, batch, seed):
    out = os.path.join(folder, f"xgrad-out-{seed}")
    cmd = [binary, "train", "--train", os.path.join(folder, "train.csv"), "--val",
           os.path.join(folder, "val.csv"), "--test", os.path.join(folder, "test.csv"), "--layers", "256",
           "--activation", "relu", "--optimizer", "adam", "--lr", "0.001", "--batch", str(batch),
           "--epochs", str(epochs), "--seed", str(seed), "--progress", "none", "--out", out]
    run = subprocess.run(cmd, capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{run.stdout}{run.stderr}")
    for line in run.stdout.splitlines():
        if line.startswith("test accuracy "):  # "test accuracy 89.47% (38 examples), test loss 0.2490"
            return float(line.split()[2].rstrip("%")) / 100
    sys.exit(f"no test accuracy in the output of {' '.join(cmd)}:\n{run.stdout}")


def sklearn_accuracy(data, epochs, batch, seed):
    x_train, y_train, x_test, y_test = data
    scaler = StandardScaler().fit(x_train)
    mlp = MLPClassifier(hidden_layer_sizes=(256,), activation="relu", solver="adam", learning_rate_init=1e-3,
                        batch_size=batch, max_iter=epochs, alpha=0.0, random_state=seed, shuffle=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter is the epoch count on purpose
        mlp.fit(scaler.transform(x_train), y_train)
    return mlp.score(scaler.transform(x_test), y_test)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("xgrad")
    p.add_argument("work", nargs="?", default="tabular-bench")
    p.add_argument("--epochs", type=int, default=50)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--seeds", type=int, default=5)
    a = p.parse_args()
    import sklearn
    print(f"scikit-learn {sklearn.__version__}; {a.epochs} epochs, batch {a.batch}, MLP features-256-classes, relu, Adam 1e-3; seeds 0..{a.seeds - 1}; accuracy on the test file")
    print(f"| set | classes | train / val / test rows | xgrad test accuracy | scikit-learn test accuracy |")
    print(f"| --- | --- | --- | --- | --- |")
    for name, load in SETS.items():
        folder, data, classes = split(name, load, a.work)
        rows = [sum(1 for _ in open(os.path.join(folder, f"{part}.csv"))) - 1 for part in ("train", "val", "test")]
        xs = [xgrad_accuracy(a.xgrad, folder, a.epochs, a.batch, s) for s in range(a.seeds)]
        ss = [sklearn_accuracy(data, a.epochs, a.batch, s) for s in range(a.seeds)]

        def summary(v):
            return f"{100 * statistics.mean(v):.2f} % (min {100 * min(v):.2f}, max {100 * max(v):.2f})"

        print(f"| {name} | {classes} | {rows[0]} / {rows[1]} / {rows[2]} | {summary(xs)} | {summary(ss)} |",
              flush=True)


if __name__ == "__main__":
    main()
