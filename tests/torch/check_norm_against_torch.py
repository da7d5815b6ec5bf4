#!/usr/bin/python3
"""Checks xgrad's embedding, batch_norm and layer_norm against PyTorch (float64).

usage: /usr/bin/python3 check_norm_against_torch.py PATH/TO/norm_ops_driver [--seed N] [--keep DIR]

For a fixed, seeded list of cases (random shapes, m = 1 where legal, repeated ids, per-feature and
per-channel batch norm in training and evaluation) it writes the driver's input (format in
tests/torch/norm_ops_driver.cpp), runs it, recomputes every output, gradient and running statistic with
torch.float64 autograd and compares:

    |a - b| <= 1e-9 * max(|a|, |b|) + 1e-12

Layout (the lecture's): examples are columns, so torch sees the transposes:
    embedding:  Y = F.embedding(ids, E.T).T                 (E is d x V, Y is d x m)
    batch_norm: per feature, X (n x m) is torch's (N=m, C=n) input X.T;
                per channel, X (C*H*W x m) reshaped (C, H*W, m) and permuted to torch's (N=m, C, L=H*W)
    layer_norm: F.layer_norm(X.T, (d,), gamma, beta).T      (each column normalised over its d rows)
Prints one line per case with the worst relative error; exits 1 on any failure.
"""

import argparse
import os
import random
import subprocess
import sys
import tempfile

import torch
import torch.nn.functional as F

RTOL = 1e-9
ATOL = 1e-12
EPS = 1e-5
MOMENTUM = 0.1


def rand(rng, r, c, lo=-1.0, hi=1.0):
    return [[rng.uniform(lo, hi) for _ in range(c)] for _ in range(r)]


def flat(rows):
    return " ".join(repr(v) for row in rows for v in row)


def make_cases(seed):
    rng = random.Random(seed)
    cases = []
    # embedding: (d, V, m), repeats guaranteed when m > V
    for d, v, m in [(3, 5, 7), (4, 2, 1), (1, 6, 4), (5, 1, 3), (6, 4, 12), (rng.randint(2, 6), rng.randint(2, 9), rng.randint(1, 9))]:
        ids = [[float(rng.randrange(v)) for _ in range(m)]]
        cases.append(("embedding", dict(d=d, v=v, m=m), [rand(rng, d, v), ids, rand(rng, d, m)]))
    # batch_norm: (n, m, channels, training)
    for n, m, ch, training in [(3, 5, 0, 1), (1, 4, 0, 1), (6, 2, 0, 1), (4, 3, 0, 0), (4, 1, 0, 0),
                               (6, 3, 2, 1), (12, 1, 3, 1), (8, 2, 4, 0), (9, 4, 1, 1)]:
        c = n if ch == 0 else ch
        mats = [rand(rng, n, m, -2.0, 3.0), rand(rng, c, 1, 0.5, 1.5), rand(rng, c, 1),
                rand(rng, c, 1, -0.5, 0.5), rand(rng, c, 1, 0.5, 2.0), rand(rng, n, m)]
        cases.append(("batch_norm", dict(n=n, m=m, ch=ch, training=training), mats))
    # layer_norm: (d, m)
    for d, m in [(4, 3), (5, 1), (2, 6), (7, 2)]:
        cases.append(("layer_norm", dict(d=d, m=m),
                      [rand(rng, d, m, -2.0, 3.0), rand(rng, d, 1, 0.5, 1.5), rand(rng, d, 1), rand(rng, d, m)]))
    return cases


def header(kind, p):
    if kind == "embedding":
        return f"embedding {p['d']} {p['v']} {p['m']}"
    if kind == "batch_norm":
        return f"batch_norm {p['n']} {p['m']} {p['ch']} {p['training']}"
    return f"layer_norm {p['d']} {p['m']}"


def t(rows):
    return torch.tensor(rows, dtype=torch.float64)


def torch_results(kind, p, mats):
    """The results the driver writes for this case, each a flat list."""
    if kind == "embedding":
        e = t(mats[0]).requires_grad_()
        ids = t(mats[1]).long()[0]
        dy = t(mats[2])
        y = F.embedding(ids, e.T).T
        y.backward(dy)
        return [y, e.grad]
    if kind == "batch_norm":
        n, m, ch, training = p["n"], p["m"], p["ch"], bool(p["training"])
        x = t(mats[0]).requires_grad_()
        gamma = t(mats[1]).requires_grad_()
        beta = t(mats[2]).requires_grad_()
        rm, rv = t(mats[3])[:, 0].clone(), t(mats[4])[:, 0].clone()
        dy = t(mats[5])
        if ch == 0:
            inp = x.T  # (N=m, C=n)
        else:
            inp = x.reshape(ch, n // ch, m).permute(2, 0, 1)  # (N=m, C, L=H*W)
        out = F.batch_norm(inp, rm, rv, gamma[:, 0], beta[:, 0], training=training, momentum=MOMENTUM, eps=EPS)
        y = out.T if ch == 0 else out.permute(1, 2, 0).reshape(n, m)
        y.backward(dy)
        return [y, x.grad, gamma.grad, beta.grad, rm, rv]
    d = p["d"]
    x = t(mats[0]).requires_grad_()
    gamma = t(mats[1]).requires_grad_()
    beta = t(mats[2]).requires_grad_()
    y = F.layer_norm(x.T, (d,), gamma[:, 0], beta[:, 0], eps=EPS).T
    y.backward(t(mats[3]))
    return [y, x.grad, gamma.grad, beta.grad]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("driver")
    ap.add_argument("--seed", type=int, default=12)
    ap.add_argument("--keep")
    args = ap.parse_args()
    work = args.keep or tempfile.mkdtemp(prefix="xgrad_norm_torch_")
    os.makedirs(work, exist_ok=True)
    cases = make_cases(args.seed)
    inp, outp = os.path.join(work, "in.txt"), os.path.join(work, "out.txt")
    with open(inp, "w") as f:
        for kind, p, mats in cases:
            f.write(header(kind, p) + "\n")
            for mtx in mats:
                f.write(flat(mtx) + "\n")
    subprocess.run([args.driver, inp, outp], check=True)
    with open(outp) as f:
        lines = [[float(v) for v in line.split()] for line in f]
    failures = 0
    k = 0
    for kind, p, mats in cases:
        expected = torch_results(kind, p, mats)
        worst = 0.0
        ok = True
        for e in expected:
            want = e.detach().reshape(-1).tolist()
            got = lines[k] if k < len(lines) else []
            k += 1
            if len(got) != len(want):
                ok = False
                worst = float("inf")
                continue
            for a, b in zip(got, want):
                err = abs(a - b)
                tol = RTOL * max(abs(a), abs(b)) + ATOL
                if not err <= tol:
                    ok = False
                worst = max(worst, err / tol)
        failures += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {header(kind, p):32s} worst |a-b|/tol = {worst:.3g}")
    if k != len(lines):
        print(f"FAIL the driver wrote {len(lines)} lines, expected {k}")
        failures += 1
    print(f"{len(cases) - failures} of {len(cases)} cases agree with torch float64")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
