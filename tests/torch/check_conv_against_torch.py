#!/usr/bin/python3
"""Checks xgrad's conv2d, max_pool2d, avg_pool2d and global_avg_pool against PyTorch (float64).

usage: /usr/bin/python3 check_conv_against_torch.py PATH/TO/conv_gradients [--keep DIR] [--seed N]

For a fixed, seeded set of geometries (stride 1 to 3, zero padding, non-square kernels and images,
dilation, m = 1 and m > 1, C > 1, K > 1) it writes the input file of examples/conv_gradients.cpp, runs
the binary, recomputes the output Y and the gradients of L = sum(R * Y) with torch.float64 autograd,
and compares every number:

    |a - b| <= 1e-9 * max(|a|, |b|) + 1e-12

Layout: xgrad keeps a batch of m images of shape C x H x W as X [C*H*W x m] (row (c*H + y)*W + x,
column n), so torch's (m, C, H, W) tensor is X.T.reshape(m, C, H, W); W [K x C*kh*kw] is torch's
weight (K, C, kh, kw) reshaped; Y [K*Ho*Wo x m] is torch's (m, K, Ho, Wo) output permuted to
(K, Ho, Wo, m). avg_pool2d counts the padding (count_include_pad=True, torch's default).

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


def out_extent(n, k, s, p, d):
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def make_cases(seed):
    """A deterministic list of case dicts: op, C, H, W, window (kh kw sh sw ph pw dh dw), K, m."""
    rng = random.Random(seed)
    cases = []
    fixed = [
        ("conv2d", (1, 5, 5), (3, 3, 1, 1, 1, 1, 1, 1), 2, 1),
        ("conv2d", (2, 7, 5), (3, 2, 2, 2, 1, 1, 1, 1), 3, 1),
        ("conv2d", (3, 6, 8), (2, 3, 1, 2, 0, 2, 1, 1), 4, 3),
        ("conv2d", (2, 9, 7), (3, 3, 2, 1, 2, 1, 2, 1), 3, 2),
        ("conv2d", (2, 4, 3), (4, 3, 1, 1, 0, 0, 1, 1), 5, 2),  # kernel = image
        ("conv2d", (3, 4, 5), (1, 1, 1, 1, 0, 0, 1, 1), 2, 3),  # 1x1 kernel
        ("max_pool2d", (2, 6, 6), (2, 2, 2, 2, 0, 0, 1, 1), 0, 3),
        ("max_pool2d", (3, 7, 5), (3, 2, 2, 1, 1, 1, 1, 1), 0, 1),
        ("max_pool2d", (1, 8, 7), (3, 3, 2, 3, 1, 0, 2, 2), 0, 2),
        ("avg_pool2d", (2, 6, 6), (2, 2, 2, 2, 0, 0, 1, 1), 0, 3),
        ("avg_pool2d", (3, 7, 5), (3, 2, 2, 1, 1, 1, 1, 1), 0, 1),
        ("global_avg_pool", (3, 5, 4), None, 0, 2),
    ]
    for op, image, window, k, m in fixed:
        cases.append(dict(op=op, image=image, window=window, K=k, m=m, seed=rng.random()))
    # random ones, kept when the window fits (and, for pooling, the padding is at most half the kernel)
    while len(cases) < len(fixed) + 24:
        op = rng.choice(["conv2d", "conv2d", "max_pool2d", "avg_pool2d"])
        image = (rng.randint(1, 3), rng.randint(1, 9), rng.randint(1, 9))
        kh, kw = rng.randint(1, 4), rng.randint(1, 4)
        dh, dw = (rng.randint(1, 2), rng.randint(1, 2)) if op != "avg_pool2d" else (1, 1)
        window = (kh, kw, rng.randint(1, 3), rng.randint(1, 3), rng.randint(0, 2), rng.randint(0, 2), dh, dw)
        if op != "conv2d" and (2 * window[4] > kh or 2 * window[5] > kw):
            continue
        if dh * (kh - 1) + 1 > image[1] + 2 * window[4] or dw * (kw - 1) + 1 > image[2] + 2 * window[5]:
            continue
        cases.append(dict(op=op, image=image, window=window, K=rng.randint(1, 4), m=rng.randint(1, 3), seed=rng.random()))
    return cases


def label(case):
    c, h, w = case["image"]
    s = f"{case['op']} {c}x{h}x{w}"
    if case["window"]:
        kh, kw, sh, sw, ph, pw, dh, dw = case["window"]
        s += f" k{kh}x{kw} s{sh},{sw} p{ph},{pw} d{dh},{dw}"
    if case["op"] == "conv2d":
        s += f" K={case['K']}"
    return s + f" m={case['m']}"


def torch_reference(case, mats):
    """Y and gradients in xgrad's layout, from torch's NCHW ops."""
    c, h, w = case["image"]
    m = case["m"]
    x = mats["X"].clone().requires_grad_(True)
    x4 = x.t().reshape(m, c, h, w)
    params = {}
    if case["op"] == "conv2d":
        kh, kw, sh, sw, ph, pw, dh, dw = case["window"]
        wt = mats["W"].clone().requires_grad_(True)
        b = mats["b"].clone().requires_grad_(True)
        params = {"dW": wt, "db": b}
        y4 = F.conv2d(x4, wt.reshape(case["K"], c, kh, kw), b.reshape(-1), stride=(sh, sw), padding=(ph, pw),
                      dilation=(dh, dw))
    elif case["op"] == "max_pool2d":
        kh, kw, sh, sw, ph, pw, dh, dw = case["window"]
        y4 = F.max_pool2d(x4, (kh, kw), stride=(sh, sw), padding=(ph, pw), dilation=(dh, dw))
    elif case["op"] == "avg_pool2d":
        kh, kw, sh, sw, ph, pw, _, _ = case["window"]
        y4 = F.avg_pool2d(x4, (kh, kw), stride=(sh, sw), padding=(ph, pw), count_include_pad=True)
    else:
        y4 = F.adaptive_avg_pool2d(x4, 1)
    y = y4.permute(1, 2, 3, 0).reshape(-1, m)
    (mats["R"] * y).sum().backward()
    out = {"Y": y.detach(), "dX": x.grad}
    for name, p in params.items():
        out[name] = p.grad
    return out


def make_data(case):
    g = torch.Generator().manual_seed(int(case["seed"] * 2**31))
    c, h, w = case["image"]
    m = case["m"]
    mats = {"X": torch.rand(c * h * w, m, generator=g, dtype=torch.float64) * 2 - 1}
    if case["op"] == "conv2d":
        kh, kw = case["window"][:2]
        mats["W"] = torch.rand(case["K"], c * kh * kw, generator=g, dtype=torch.float64) * 2 - 1
        mats["b"] = torch.rand(case["K"], 1, generator=g, dtype=torch.float64) * 2 - 1
        kh, kw, sh, sw, ph, pw, dh, dw = case["window"]
        rows = case["K"] * out_extent(h, kh, sh, ph, dh) * out_extent(w, kw, sw, pw, dw)
    elif case["op"] == "global_avg_pool":
        rows = c
    else:
        kh, kw, sh, sw, ph, pw, dh, dw = case["window"]
        rows = c * out_extent(h, kh, sh, ph, dh) * out_extent(w, kw, sw, pw, dw)
    mats["R"] = torch.rand(rows, m, generator=g, dtype=torch.float64) * 2 - 1
    return mats


def write_input(path, case, mats):
    with open(path, "w") as f:
        f.write(f"op {case['op']}\nimage {' '.join(map(str, case['image']))}\n")
        if case["window"]:
            f.write(f"window {' '.join(map(str, case['window']))}\n")
        for name, t in mats.items():
            f.write(f"matrix {name} {t.shape[0]} {t.shape[1]}\n")
            for row in t.tolist():
                f.write(" ".join(repr(v) for v in row) + "\n")


def parse_output(text):
    tokens = text.split()
    out, i = {}, 0
    while i < len(tokens):
        if tokens[i] != "matrix":
            raise ValueError(f"unexpected token {tokens[i]!r}")
        name, r, c = tokens[i + 1], int(tokens[i + 2]), int(tokens[i + 3])
        vals = [float(v) for v in tokens[i + 4 : i + 4 + r * c]]
        out[name] = torch.tensor(vals, dtype=torch.float64).reshape(r, c)
        i += 4 + r * c
    return out


def compare(a, b):
    diff = (a - b).abs()
    big = torch.maximum(a.abs(), b.abs())
    ok = bool((diff <= RTOL * big + ATOL).all())
    rel = torch.where(big > 0, diff / torch.where(big > 0, big, torch.ones_like(big)), torch.zeros_like(big))
    return (float(rel.max()) if rel.numel() else 0.0), ok


def run_case(binary, workdir, index, case):
    mats = make_data(case)
    ref = torch_reference(case, mats)
    path = os.path.join(workdir, f"conv{index:03d}.txt")
    write_input(path, case, mats)
    proc = subprocess.run([binary, path], capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        return None, f"binary exited with {proc.returncode}: {proc.stderr.strip()}"
    got = parse_output(proc.stdout)
    worst, problems = 0.0, []
    for name, r in ref.items():
        g = got.get(name)
        if g is None or tuple(g.shape) != tuple(r.shape):
            problems.append(f"{name}: missing or shape {None if g is None else tuple(g.shape)} vs {tuple(r.shape)}")
            continue
        rel, ok = compare(g, r)
        worst = max(worst, rel)
        if not ok:
            idx = int((g - r).abs().argmax())
            problems.append(f"{name}[{idx}] = {g.flatten()[idx].item()!r} vs torch {r.flatten()[idx].item()!r}")
    return worst, "; ".join(problems)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("binary", help="path of the conv_gradients example")
    ap.add_argument("--keep", metavar="DIR", help="write the input files to DIR and keep them")
    ap.add_argument("--seed", type=int, default=20261130)
    args = ap.parse_args()
    torch.set_num_threads(1)
    binary = os.path.abspath(args.binary)
    cases = make_cases(args.seed)
    failures = 0
    with tempfile.TemporaryDirectory(prefix="xgrad-torch-conv-") as tmp:
        workdir = args.keep or tmp
        os.makedirs(workdir, exist_ok=True)
        for i, case in enumerate(cases):
            worst, problems = run_case(binary, workdir, i, case)
            if worst is None or problems:
                failures += 1
                print(f"FAIL case {i:3d} {label(case)}: {problems}")
            else:
                print(f"ok   case {i:3d} {label(case)}: worst rel err {worst:.2e}")
    print(f"{len(cases) - failures}/{len(cases)} cases agree with torch {torch.__version__} to {RTOL:g} relative")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
