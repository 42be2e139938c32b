#!/usr/bin/python3
"""Regenerates the committed seed corpus in tests/fuzz/corpus/ (run once by hand; the fuzz
runner never writes there). Needs python3-h5py and python3-numpy; the experiment-file seeds also
need a built attriscope-cli (pass its path as the first argument, default build/release)."""
import gzip
import os
import struct
import subprocess
import sys
import tempfile

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")


def put(harness, name, data):
    d = os.path.join(CORPUS, harness)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def idx(magic, dims, payload):
    return struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in dims) + bytes(payload)


# --- IDX: the harness splits its input as [u32 little-endian images length][images][labels];
# a whole input is also read as one images file and as one labels file.
images = idx(0x803, [3, 2, 2], range(0, 120, 10))
labels = idx(0x801, [3], [0, 1, 9])
put("idx", "valid_pair", struct.pack("<I", len(images)) + images + labels)
put("idx", "valid_pair_gz", struct.pack("<I", len(gzip.compress(images, mtime=0)))
    + gzip.compress(images, mtime=0) + gzip.compress(labels, mtime=0))
put("idx", "valid_images", images)
put("idx", "valid_labels", labels)
put("idx", "valid_labels_gz", gzip.compress(labels, mtime=0))
put("idx", "truncated_images", images[:-3])
put("idx", "trailing_labels", labels + b"\x00")
put("idx", "absurd_header", idx(0x803, [0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF], []))
put("idx", "label_out_of_range", struct.pack("<I", len(images)) + images + idx(0x801, [3], [0, 1, 200]))
put("idx", "count_mismatch", struct.pack("<I", len(images)) + images + idx(0x801, [2], [0, 1]))
put("idx", "wrong_magic", idx(0x802, [1], [1]))
put("idx", "bad_gzip", b"\x1f\x8b\x08\x00" + b"\x00" * 12)

# --- CIFAR-10 binary batches: 3073-byte records (label, 3x32x32 pixels).
rec = lambda label, v: bytes([label]) + bytes([v % 256]) * 3072
put("cifar", "valid_two_records", rec(3, 7) + rec(5, 200))
put("cifar", "valid_one_record", rec(9, 1))
put("cifar", "label_10", rec(10, 0))
put("cifar", "short", rec(1, 0)[:100])
put("cifar", "one_extra_byte", rec(1, 0) + b"\x00")

# --- HDF5 datasets (spec h5:FILE) and a tiny experiment made from one.
tmp = tempfile.mkdtemp()


def h5(path, build):
    with h5py.File(path, "w", libver="earliest") as f:
        build(f)
    with open(path, "rb") as f:
        return f.read()


def valid(f, images_dtype=np.uint8, c=None, num_classes=None, names=True):
    shape = (4, 2, 3, 3) if c else (4, 3, 3)
    f["train/images"] = (np.arange(np.prod(shape)) % 256).reshape(shape).astype(images_dtype)
    f["train/labels"] = np.array([0, 1, 0, 1], dtype=np.int64)
    f["test/images"] = (np.arange(np.prod(shape)) % 256).reshape(shape)[:2].astype(images_dtype)
    f["test/labels"] = np.array([1, 0], dtype=np.int32)
    if num_classes is not None:
        f.attrs["num_classes"] = num_classes
    if names:
        f["class_names"] = np.array([b"a", b"b"])


put("hdf5_dataset", "valid_uint8", h5(os.path.join(tmp, "a.h5"), valid))
put("hdf5_dataset", "valid_float_nchw", h5(os.path.join(tmp, "b.h5"),
    lambda f: valid(f, np.float32, c=2, num_classes=2, names=False)))
put("hdf5_dataset", "negative_label", h5(os.path.join(tmp, "c.h5"),
    lambda f: (valid(f), f.__delitem__("test/labels"), f.create_dataset("test/labels", data=[-1, 0]))))
put("hdf5_dataset", "missing_test", h5(os.path.join(tmp, "d.h5"),
    lambda f: f.create_dataset("train/images", data=np.zeros((1, 2, 2), np.uint8))))
put("hdf5_dataset", "not_hdf5", b"\x89HDF\r\n\x1a\n" + b"\x00" * 40)

cli = os.path.join(sys.argv[1] if len(sys.argv) > 1 else "build/release", "app", "attriscope-cli")
data = os.path.join(tmp, "tiny.h5")
h5(data, valid)
exp = os.path.join(tmp, "exp.h5")
subprocess.run([cli, "train", "--data", "h5:" + data, "--model", "lr", "--train-size", "4", "--test-size", "2",
                "--no-normalize", "--epochs", "2", "--checkpoints", "2", "--out", exp], check=True,
               stdout=subprocess.DEVNULL)
with open(exp, "rb") as f:
    put("experiment_file", "valid_lr", f.read())
put("experiment_file", "newer_schema", h5(os.path.join(tmp, "e.h5"),
    lambda f: f.attrs.__setitem__("schema_version", 99)))
put("experiment_file", "schema_string", h5(os.path.join(tmp, "f.h5"),
    lambda f: f.attrs.__setitem__("schema_version", "one")))
put("experiment_file", "bad_checkpoint_name", h5(os.path.join(tmp, "g.h5"), lambda f: (
    f.attrs.__setitem__("schema_version", 1), f.create_group("model/checkpoints/x1"))))
put("experiment_file", "empty", b"")

# --- TorchScript: the fixtures tests/fixtures/ts_*.pt are added by run-fuzz.sh; these are the
# invalid ones.
put("torchscript", "empty", b"")
put("torchscript", "empty_zip", b"PK\x05\x06" + b"\x00" * 18)
put("torchscript", "not_zip", b"this is not a TorchScript archive\n")
with open(os.path.join(HERE, "..", "fixtures", "ts_seq_cnn.pt"), "rb") as f:
    put("torchscript", "truncated_seq_cnn", f.read()[:4096])

# --- Option strings: one line per parser, see fuzz_spec_strings.cpp.
specs = {
    "dataset_demo": b"D demo", "dataset_h5": b"D h5:/tmp/x.h5", "dataset_cifar": b"D  cifar2: dir ",
    "dataset_bad": b"D mnist", "grid_log": b"L log:1e-6:1e2:25", "grid_list": b"L 1e-3,1e-2,0.1",
    "grid_bad": b"L log:1:0.1:nan", "grid_abs": b"A 0.5,inf", "arch": b"M resnet9",
    "target": b"T last", "proj": b"P kron", "args": b"C --k=256,1024\x00--lambda\x001e-3\x00exp.h5\x00--absolute",
    "args_bad": b"C --k\x00", "ints": b"C --n=99999999999999999999999",
    "json_recipe": b'J {"optimizer": "nesterov", "lr": 0.02, "momentum": 0.9, "batch_size": 64, "epochs": 10, '
                   b'"schedule": "cosine", "warmup_epochs": 1}',
    "json_manifest": b'J {"model": "model.pt", "init": "init.pt", "checkpoints": [{"file": "epoch2.pt", '
                     b'"epoch": 2}], "recipe": {"optimizer": "adamw", "lr": 1e-3, "weight_decay": 0.01}}',
    "json_bad": b'J {"lr": 1e400, "lr": "x", "epochs": -1, "schedule": "step:3,1:0.1"',
}
for name, text in specs.items():
    put("spec_strings", name, text)
print("corpus written to", CORPUS)
