#!/usr/bin/python3
"""Writes the embedded demo: the first 5000 training and first 500 test images of
Fashion-MNIST (Debian package dataset-fashion-mnist), in the original IDX format, gzipped.
Run: /usr/bin/python3 resources/demo/make_demo.py  (rewrites the four .gz files here)."""
import gzip
import os
import struct

SRC = "/usr/share/datasets/fashion-mnist"
HERE = os.path.dirname(os.path.abspath(__file__))


def subset(name, count):
    with gzip.open(os.path.join(SRC, name), "rb") as f:
        data = f.read()
    magic, n = struct.unpack(">II", data[:8])
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    row = 1
    for d in dims[1:]:
        row *= d
    header = struct.pack(">I", magic) + struct.pack(">" + "I" * ndim, count, *dims[1:])
    body = data[4 + 4 * ndim: 4 + 4 * ndim + count * row]
    # mtime=0 keeps the output byte-identical across runs.
    with gzip.GzipFile(os.path.join(HERE, name), "wb", mtime=0) as out:
        out.write(header + body)


subset("train-images-idx3-ubyte.gz", 5000)
subset("train-labels-idx1-ubyte.gz", 5000)
subset("t10k-images-idx3-ubyte.gz", 500)
subset("t10k-labels-idx1-ubyte.gz", 500)
