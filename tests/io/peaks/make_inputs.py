#!/usr/bin/env python3
"""Writes the inputs of the loader resource cases (tests/io/peaks/peaks.sh) into the directory argv[1]."""
import gzip
import os
import struct
import sys
import zipfile

import numpy as np

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
os.chdir(out)


def npy_header(shape):
    d = "{'descr': '<f8', 'fortran_order': False, 'shape': %s, }" % (str(shape),)
    d += " " * (64 - (10 + len(d) + 1) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(d)) + d.encode()


# ~1 MB archive whose 'w' declares (11585, 11585) float64 zeros (1.07 GB), deflated; 'b' is (2,).
with zipfile.ZipFile("bomb.npz", "w", compression=zipfile.ZIP_DEFLATED) as z:
    with z.open("w.npy", "w", force_zip64=True) as f:
        f.write(npy_header((11585, 11585)))
        chunk, left = bytes(1 << 24), 11585 * 11585 * 8
        while left:
            n = min(left, len(chunk))
            f.write(chunk[:n])
            left -= n
    with z.open("b.npy", "w") as f:
        f.write(npy_header((2,)) + bytes(16))


def idx(name, n, rows=28, cols=28):
    with gzip.open(name + "-images.gz", "wb", compresslevel=9) as g:
        g.write(struct.pack(">IIII", 0x803, n, rows, cols))
        chunk, left = bytes(1 << 24), n * rows * cols
        while left:
            k = min(left, len(chunk))
            g.write(chunk[:k])
            left -= k
    with gzip.open(name + "-labels.gz", "wb", compresslevel=9) as g:
        g.write(struct.pack(">II", 0x801, n) + bytes(n))


idx("zeros836M", 1066000)  # 812 KB of gzip, 836 MB of pixels, a 3.3 GB float matrix
idx("zeros400M", 510204)  # 389 KB of gzip, 400 MB of pixels, a 1.6 GB float matrix

with open("longline.csv", "w") as f:  # one line of 64 MiB
    f.write("1," * (32 << 20) + "1\n")
rng = np.random.default_rng(1)
with open("table.csv", "w") as f:  # 200 000 rows of 50 features and a label: 90 MB
    f.write(",".join(f"f{i}" for i in range(50)) + ",label\n")
    for r, label in zip(rng.random((200000, 50)), rng.integers(0, 10, 200000)):
        f.write(",".join(f"{v:.6f}" for v in r) + f",{label}\n")
if not os.path.exists("fifo.csv"):
    os.mkfifo("fifo.csv")
