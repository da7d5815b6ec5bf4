#!/usr/bin/python3
"""Checks xgrad's MLP gradients against PyTorch (float64).

usage: /usr/bin/python3 check_mlp_against_torch.py PATH/TO/mlp_gradients [--keep DIR] [--seed N]

For a fixed, seeded set of networks (1 to 3 layers, every hidden activation, m = 1 and m > 1, every
loss) it writes the input file of examples/mlp_gradients.cpp, runs the binary, recomputes loss and
gradients with torch.float64 autograd in xgrad's layout, and compares every number:

    |a - b| <= 1e-9 * max(|a|, |b|) + 1e-15

Layout (the lecture's): examples are columns. X is n0 x m, W[l] is n_l x n_(l-1), b[l] is n_l x 1,
A[l] = W[l] @ H[l-1] + b[l]. Losses average over the m columns:
    softmax_cross_entropy: -(1/m) sum_j log softmax(A[L])[label_j, j]   (softmax over dim 0)
    bce_with_logits:       (1/m) sum of the elementwise BCE-with-logits
    mse:                   (1/(2m)) sum (out(A[L]) - Y)^2                 (xgrad's documented scaling)

Prints one line per case with the worst relative error; exits 1 on any failure.
"""

import argparse
import math
import os
import random
import subprocess
import sys
import tempfile

import torch
import torch.nn.functional as F

RTOL = 1e-9
ATOL = 1e-15

HIDDEN_ACTIVATIONS = ["sigmoid", "tanh", "relu", "leaky_relu", "elu", "selu"]
LOSSES = ["softmax_cross_entropy", "bce_with_logits", "mse"]


def torch_activation(spec, x):
    name, _, param = spec.partition(":")
    if name == "identity":
        return x
    if name == "sigmoid":
        return torch.sigmoid(x)
    if name == "tanh":
        return torch.tanh(x)
    if name == "relu":
        return torch.relu(x)
    if name == "leaky_relu":
        return F.leaky_relu(x, float(param) if param else 0.01)
    if name == "elu":
        return F.elu(x, float(param) if param else 1.0)
    if name == "selu":
        return F.selu(x)
    raise ValueError(f"unknown activation {spec}")


# ---- cases ---------------------------------------------------------------------------------------


def make_cases(seed):
    """A deterministic list of (label, spec) where spec = dict(sizes, hidden, output, loss, m)."""
    rng = random.Random(seed)
    cases = []

    def add(sizes, hidden, loss, m, output="identity", scale=1.0):
        label = (
            f"{'-'.join(map(str, sizes))} [{','.join(hidden) or 'linear'}"
            f"{'' if output == 'identity' else ' ->' + output}] {loss} m={m}"
            f"{'' if scale == 1.0 else f' W×{scale:g}'}"
        )
        cases.append(
            (label, dict(sizes=sizes, hidden=hidden, output=output, loss=loss, m=m, scale=scale, seed=rng.random()))
        )

    # Every activation x every loss x (m = 1, m > 1), one hidden layer.
    for act in HIDDEN_ACTIVATIONS:
        for loss in LOSSES:
            for m in (1, rng.randint(3, 9)):
                add([rng.randint(2, 5), rng.randint(2, 7), rng.randint(2, 4)], [act], loss, m)
    # Two hidden layers, mixed activations, every loss and both m regimes.
    for i, act in enumerate(HIDDEN_ACTIVATIONS):
        act2 = HIDDEN_ACTIVATIONS[(i + 2) % len(HIDDEN_ACTIVATIONS)]
        for loss in LOSSES:
            m = 1 if (i + LOSSES.index(loss)) % 3 == 0 else rng.randint(2, 12)
            add([rng.randint(2, 6), rng.randint(3, 8), rng.randint(3, 8), rng.randint(2, 5)], [act, act2], loss, m)
    # Non-default parameters of leaky_relu / elu.
    for loss in LOSSES:
        add([4, 6, 5, 3], ["leaky_relu:0.2", "elu:0.5"], loss, 5)
    # No hidden layer (logistic / softmax / linear regression) and a single output unit.
    for loss in LOSSES:
        add([3, 1 if loss != "softmax_cross_entropy" else 3], [], loss, 4)
        add([5, 4, 1 if loss != "softmax_cross_entropy" else 2], ["tanh"], loss, 6)
    # mse with an activation on the output layer.
    for out in ("sigmoid", "tanh", "relu", "selu"):
        add([3, 5, 2], ["elu"], "mse", 7, output=out)
    # Three hidden layers, wider batch; larger weights (logits of tens) to exercise the stable paths.
    for loss in LOSSES:
        add([6, 8, 7, 6, 4], ["selu", "tanh", "leaky_relu"], loss, 16)
        add([4, 6, 3], ["relu"], loss, 8, scale=4.0)
    return cases


def make_data(spec, attempt=0):
    g = torch.Generator().manual_seed(int(spec["seed"] * 2**31) + attempt)
    sizes, m, loss, scale = spec["sizes"], spec["m"], spec["loss"], spec["scale"]
    L = len(sizes) - 1

    def randn(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float64)

    mats = {"X": randn(sizes[0], m)}
    if loss == "softmax_cross_entropy":
        mats["Y"] = torch.randint(0, sizes[L], (1, m), generator=g).to(torch.float64)
    elif loss == "bce_with_logits":
        y = torch.rand(sizes[L], m, generator=g, dtype=torch.float64)
        mats["Y"] = torch.where(y < 0.35, torch.zeros_like(y), torch.where(y > 0.65, torch.ones_like(y), y))
    else:
        mats["Y"] = randn(sizes[L], m)
    for l in range(1, L + 1):
        mats[f"W{l}"] = randn(sizes[l], sizes[l - 1]) * (scale / math.sqrt(sizes[l - 1]))
        mats[f"b{l}"] = randn(sizes[l], 1) * 0.5
    return mats


# ---- file format ---------------------------------------------------------------------------------


def fmt(x):
    return repr(float(x))  # shortest string that round-trips the double


def write_input(path, spec, mats):
    L = len(spec["sizes"]) - 1
    lines = [
        "# generated by check_mlp_against_torch.py",
        "layers " + " ".join(map(str, spec["sizes"])),
        "activations " + " ".join(spec["hidden"]),
        "loss " + spec["loss"],
    ]
    if spec["output"] != "identity":
        lines.append("output " + spec["output"])
    names = ["X", "Y"] + [n for l in range(1, L + 1) for n in (f"W{l}", f"b{l}")]
    for name in names:
        t = mats[name]
        lines.append(f"matrix {name} {t.shape[0]} {t.shape[1]}")
        lines.extend(" ".join(fmt(v) for v in row) for row in t.tolist())
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def parse_output(text):
    tokens = text.split()
    pos = 0
    loss = None
    mats = {}
    while pos < len(tokens):
        key = tokens[pos]
        if key == "loss":
            loss = float(tokens[pos + 1])
            pos += 2
        elif key == "matrix":
            name, r, c = tokens[pos + 1], int(tokens[pos + 2]), int(tokens[pos + 3])
            vals = [float(v) for v in tokens[pos + 4 : pos + 4 + r * c]]
            if len(vals) != r * c:
                raise ValueError(f"matrix {name}: expected {r * c} numbers, got {len(vals)}")
            mats[name] = torch.tensor(vals, dtype=torch.float64).reshape(r, c)
            pos += 4 + r * c
        else:
            raise ValueError(f"unexpected token {key!r} in the binary's output")
    return loss, mats


# ---- reference -----------------------------------------------------------------------------------


def torch_reference(spec, mats):
    L = len(spec["sizes"]) - 1
    m = spec["m"]
    params = {}
    for l in range(1, L + 1):
        params[f"W{l}"] = mats[f"W{l}"].clone().requires_grad_(True)
        params[f"b{l}"] = mats[f"b{l}"].clone().requires_grad_(True)
    h = mats["X"]
    for l in range(1, L + 1):
        a = params[f"W{l}"] @ h + params[f"b{l}"]
        h = torch_activation(spec["hidden"][l - 1], a) if l < L else a
    y = mats["Y"]
    if spec["loss"] == "softmax_cross_entropy":
        labels = y[0].long()
        logp = torch.log_softmax(h, dim=0)  # classes are rows
        loss = -logp[labels, torch.arange(m)].sum() / m
    elif spec["loss"] == "bce_with_logits":
        loss = F.binary_cross_entropy_with_logits(h, y, reduction="sum") / m
    else:
        out = torch_activation(spec["output"], h)
        loss = ((out - y) ** 2).sum() / (2 * m)
    loss.backward()
    grads = {}
    for l in range(1, L + 1):
        grads[f"dW{l}"] = params[f"W{l}"].grad
        grads[f"db{l}"] = params[f"b{l}"].grad
    return loss.item(), grads


# ---- comparison ----------------------------------------------------------------------------------


def compare(a, b):
    """(worst relative error, all within tolerance) for two float64 tensors of the same shape."""
    diff = (a - b).abs()
    big = torch.maximum(a.abs(), b.abs())
    ok = bool((diff <= RTOL * big + ATOL).all())
    rel = torch.where(big > 0, diff / torch.where(big > 0, big, torch.ones_like(big)), torch.zeros_like(big))
    return float(rel.max()) if rel.numel() else 0.0, ok


def run_case(binary, workdir, index, label, spec):
    # Redraw data whose gradients vanish for a whole tensor (e.g. every relu unit dead when m = 1):
    # such a case would compare zeros with zeros and test nothing upstream of it.
    for attempt in range(50):
        mats = make_data(spec, attempt)
        ref_loss, ref = torch_reference(spec, mats)
        if all(bool((r != 0).any()) for r in ref.values()):
            break
    path = os.path.join(workdir, f"case{index:03d}.txt")
    write_input(path, spec, mats)
    proc = subprocess.run([binary, path], capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        return None, f"binary exited with {proc.returncode}: {proc.stderr.strip()}"
    try:
        loss, got = parse_output(proc.stdout)
    except (ValueError, IndexError) as e:
        return None, f"cannot parse the binary's output: {e}"

    problems = []
    worst, ok = compare(torch.tensor([loss], dtype=torch.float64), torch.tensor([ref_loss], dtype=torch.float64))
    if not ok:
        problems.append(f"loss {loss!r} vs torch {ref_loss!r}")
    worst_name = "loss"
    for name, r in ref.items():
        g = got.get(name)
        if g is None or tuple(g.shape) != tuple(r.shape):
            problems.append(f"{name}: missing or wrong shape {None if g is None else tuple(g.shape)}")
            continue
        rel, ok = compare(g, r)
        if rel > worst:
            worst, worst_name = rel, name
        if not ok:
            idx = int((g - r).abs().argmax())
            problems.append(f"{name}[{idx}] = {g.flatten()[idx].item()!r} vs torch {r.flatten()[idx].item()!r}")
    return (worst, worst_name), "; ".join(problems)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("binary", help="path of the mlp_gradients example")
    ap.add_argument("--keep", metavar="DIR", help="write the input files to DIR and keep them")
    ap.add_argument("--seed", type=int, default=20240611)
    args = ap.parse_args()

    torch.set_num_threads(1)
    binary = os.path.abspath(args.binary)
    cases = make_cases(args.seed)
    failures = 0
    summary = {}  # worst error per activation and per loss
    with tempfile.TemporaryDirectory(prefix="xgrad-torch-") as tmp:
        workdir = args.keep or tmp
        os.makedirs(workdir, exist_ok=True)
        for i, (label, spec) in enumerate(cases):
            result, problems = run_case(binary, workdir, i, label, spec)
            if result is None or problems:
                failures += 1
                worst = f"{result[0]:.2e} ({result[1]})" if result else "-"
                print(f"FAIL case {i:3d} {label}: worst rel err {worst}: {problems}")
                continue
            print(f"ok   case {i:3d} {label}: worst rel err {result[0]:.2e} ({result[1]})")
            keys = [spec["loss"]] + [a.partition(":")[0] for a in spec["hidden"]]
            if spec["output"] != "identity":
                keys.append("output " + spec["output"])
            for k in keys:
                summary[k] = max(summary.get(k, 0.0), result[0])
    print("worst relative error by activation / loss:")
    for k in sorted(summary):
        print(f"  {k:24s} {summary[k]:.2e}")
    print(f"{len(cases) - failures}/{len(cases)} cases agree with torch {torch.__version__} to {RTOL:g} relative")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
