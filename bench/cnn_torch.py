#!/usr/bin/python3
"""The CNN case in PyTorch (Python): examples/s of the default CNN of `xgrad train --model cnn`.

usage: /usr/bin/python3 bench/cnn_torch.py DATA_DIR [EXAMPLES] [EPOCHS]

The same model (conv3x3:32,relu,maxpool2,conv3x3:64,relu,maxpool2,fc:128,relu,fc:10), the same data
(Fashion-MNIST's training images, each pixel standardized with the training set's mean and standard
deviation, as xgrad train does), Adam 1e-3, batch 64, one thread. Prints examples per second of wall time and
of process CPU time (which the other processes of a busy machine do not inflate), and with EPOCHS the test
accuracy after those epochs.
"""

import gzip
import os
import sys
import time

# One thread means one: Debian's torch also links OpenBLAS, whose own pool (one thread per core unless told
# before it loads) is not capped by torch.set_num_threads. Without these, measured 2026-11-30 on 2 cores:
# 2202 examples/s of wall time but 1113 per CPU-second (a second core busy for 3 % more speed).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def load(dir, kind):
    prefix = "train" if kind == "train" else "t10k"
    with gzip.open(os.path.join(dir, f"{prefix}-images-idx3-ubyte.gz")) as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 784).astype(np.float32)
    with gzip.open(os.path.join(dir, f"{prefix}-labels-idx1-ubyte.gz")) as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8).astype(np.int64)
    return x, y


def main():
    data_dir = sys.argv[1]
    limit = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    epochs = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    torch.set_num_threads(1)
    torch.manual_seed(0)
    x, y = load(data_dir, "train")
    if limit:
        x, y = x[:limit], y[:limit]
    mean, std = x.mean(0), x.std(0)
    std[std == 0] = 1
    x = (x - mean) / std
    X = torch.from_numpy(x).reshape(-1, 1, 28, 28)
    Y = torch.from_numpy(y)
    net = nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                        nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    n = X.shape[0]
    for e in range(epochs):
        w0, c0 = time.perf_counter(), time.process_time()
        perm = torch.randperm(n)
        total = 0.0
        for i in range(0, n, 64):
            idx = perm[i:i + 64]
            opt.zero_grad()
            loss = F.cross_entropy(net(X[idx]), Y[idx])
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        w, c = time.perf_counter() - w0, time.process_time() - c0
        print(f"epoch {e + 1}: loss {total / n:.4f}, {n / w:.0f} examples/s (wall), {n / c:.0f} examples/CPU-s "
              f"(torch {torch.__version__}, 1 thread)", flush=True)
    if len(sys.argv) > 3:
        xt, yt = load(data_dir, "test")
        xt = torch.from_numpy((xt - mean) / std).reshape(-1, 1, 28, 28)
        with torch.no_grad():
            acc = (net(xt).argmax(1).numpy() == yt).mean()
        print(f"test accuracy {100 * acc:.2f}% after {epochs} epochs")


if __name__ == "__main__":
    main()
