#!/usr/bin/env python3
"""The main job's recipe in PyTorch, for the end-to-end table of docs/performance.md: Fashion-MNIST's 60,000
training images standardized per pixel (population std, 1 for a constant pixel), 784-256-10 ReLU, Adam
(lr 1e-3), batch 64, a fresh permutation per epoch, examples gathered by index_select, N threads.

    train_pytorch.py DATA_DIR [EPOCHS] [THREADS]      (scripts/bench pytorch runs it)
"""
import gzip
import os
import sys
import time

# Debian's torch also links OpenBLAS, whose own thread pool torch.set_num_threads does not cap: give it the
# same count before it loads (as bench/cnn_torch.py does).
os.environ.setdefault("OPENBLAS_NUM_THREADS", sys.argv[3] if len(sys.argv) > 3 else "1")

import numpy as np
import torch


def load_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/datasets/fashion-mnist"
    epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    threads = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    torch.set_num_threads(threads)
    t_start = time.perf_counter()
    x = load_idx(os.path.join(d, "train-images-idx3-ubyte.gz")).reshape(60000, 784).astype(np.float64)
    y = load_idx(os.path.join(d, "train-labels-idx1-ubyte.gz")).astype(np.int64)
    mean, std = x.mean(axis=0), x.std(axis=0)
    std[std == 0] = 1
    X = torch.from_numpy(((x - mean) / std).astype(np.float32))
    Y = torch.from_numpy(y)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    n, batch = X.shape[0], 64
    print(f"PyTorch {torch.__version__}, {threads} thread(s), {n} examples, batch {batch}, 784-256-10 ReLU, Adam;"
          f" loading and standardizing {time.perf_counter() - t_start:.2f} s")
    print("| epoch | PyTorch examples/s | loss |\n|---|---|---|")
    for e in range(epochs):
        t0 = time.perf_counter()
        perm = torch.randperm(n)
        loss_sum = 0.0
        for i in range(0, n, batch):
            idx = perm[i:i + batch]
            xb, yb = X.index_select(0, idx), Y.index_select(0, idx)
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(net(xb), yb)
            loss.backward()
            opt.step()
            loss_sum += loss.item() * xb.shape[0]
        print(f"| {e + 1} | {n / (time.perf_counter() - t0):.0f} | {loss_sum / n:.4f} |", flush=True)


if __name__ == "__main__":
    main()
