#!/usr/bin/env python3
"""Writes the seed corpora fuzz/corpus/{idx,csv,npz}/ (tiny valid and almost-valid inputs).

Run from anywhere: python3 fuzz/make_seeds.py. The files are committed; rerun only to change them. The input
formats are those of fuzz/harness.hpp.
"""
import gzip
import io
import os
import struct
import zipfile

import numpy as np

here = os.path.dirname(os.path.abspath(__file__))


def write(target, name, data):
    d = os.path.join(here, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- IDX: [flags][images length, 2 bytes LE][images][labels]
def idx_images(n, r, c, magic=0x803):
    return struct.pack(">IIII", magic, n, r, c) + bytes((7 * k) % 256 for k in range(n * r * c))


def idx_labels(n, magic=0x801, top=10):
    return struct.pack(">II", magic, n) + bytes(k % top for k in range(n))


def idx_input(flags, images, labels):
    return bytes([flags]) + struct.pack("<H", len(images)) + images + labels


img, lab = idx_images(3, 2, 2), idx_labels(3)
write("idx", "plain", idx_input(0x00, img, lab))
write("idx", "gzip", idx_input(0x03, img, lab))
write("idx", "gzip-cut", idx_input(0x07, img, lab))
write("idx", "classes16", idx_input(0x10, idx_images(4, 1, 3), idx_labels(4, top=16)))
write("idx", "swapped", idx_input(0x00, lab, img))
write("idx", "short-data", idx_input(0x00, img[:-2], lab))
write("idx", "count-mismatch", idx_input(0x01, img, idx_labels(2)))
write("idx", "bigger", idx_input(0x02, idx_images(2, 8, 8), idx_labels(2)))

# ---- CSV: [options][text]; options bit 0 header, bits 1-2 label column (-1, 0, none, 1), bit 3 ';', bit 4 double,
# bit 5 classes = 3 given
write("csv", "header-last", b"\x01" + b"a,b,c\n1,2,0\n3.5,-4e2,1\n")
write("csv", "noheader-first", b"\x02" + b"0,1.5,2\n1,3,4\n2,5,6\n")
write("csv", "semicolon-quotes-crlf", b"\x09" + b'"x";"y";"label"\r\n 1 ; 2 ; 0 \r\n\r\n3;4;1\r\n')
write("csv", "unlabelled-double", b"\x14" + b"1,2,3\n4,5,6\n")
write("csv", "label-second", b"\x07" + b"f,label,g\n0.25,1,+7\n1e-3,0,8\n")
write("csv", "ragged", b"\x01" + b"a,b,c\n1,2\n")
write("csv", "nan", b"\x00" + b"1,nan,0\n")
write("csv", "classes-given", b"\x21" + b"a,b,label\n1,2,0\n3,4,2\n")
write("csv", "stray-label", b"\x01" + b"a,label\n1,0\n2,1\n3,65535\n")
write("csv", "numeric-header", b"\x01" + b"1,2,0\n3,4,1\n")


# ---- NPZ: archives as numpy writes them (stored and deflate), and a few layouts
def npz(**arrays):
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def npz_compressed(**arrays):
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


w = np.arange(6, dtype=np.float64).reshape(2, 3) / 8
b = np.array([[0.5], [-1.0]])
write("npz", "model-f8", npz(w=w, b=b))
write("npz", "model-f4-compressed", npz_compressed(w=w.astype(np.float32), b=b.astype(np.float32)))
write("npz", "layouts", npz(f=np.asfortranarray(w), v=np.arange(3.0), s=np.float64(2.5), e=np.zeros((0, 2))))
write("npz", "int-dtype", npz(i=np.arange(4, dtype=np.int64)))
write("npz", "three-d", npz(t=np.zeros((1, 2, 2))))
write("npz", "nonfinite", npz(w=np.array([[1.0, np.nan, 3.0], [np.inf, 5.0, 6.0]]), b=b))
write("npz", "beyond-float", npz_compressed(w=np.full((2, 3), 1e300), b=b))
write("npz", "not-npy", (lambda: (lambda buf: (zipfile.ZipFile(buf, "w").writestr("meta.json", "{}"), buf)[1])(io.BytesIO()))().getvalue())
