#!/usr/bin/python3
"""Would the per-sample rotation of gradients along the run explain the CNN's under-damping?

Reads an experiment file trained with several checkpoints and featurized at every checkpoint with
loss gradients (`attriscope-cli train --checkpoints 10`, then `attribute --method tracin --k 1024`).
The dynamics prior's path factor π uses each checkpoint's Gauss–Newton trace
S_t = mean_i w_i ‖φ_i(t)‖² (w = p/(1 − p), p = exp(−loss)). If a training point's gradient at t
points elsewhere than at the end, only its component along the final gradient feeds what the
final features see, so the same trace with each term weighted by cos(φ_i(t), φ_i(T)),
X_t = mean_i w_i ‖φ_i(t)‖² cos_i(t), is the "aligned" trace. The prior's λ would grow by
F = mean_t S_t / mean_t X_t. Prints F, and per checkpoint X_t/S_t, the mean cosine and S_t/S_T.
Needs numpy and h5py; run with /usr/bin/python3.

usage: path_alignment.py EXP.h5 [EXP.h5 ...]
"""
import sys

import h5py
import numpy as np


def load(f, key, count=None):
    g = f["/features/" + key]
    phi = g["train"][:count].astype(np.float64)
    loss = g["train_loss"][:count].astype(np.float64)
    p, q = np.exp(-loss), -np.expm1(-loss)
    return phi, np.where(q > 0, p / np.maximum(q, 1e-300), 0.0)


def factor(path, count=None):
    f = h5py.File(path, "r")
    keys = sorted((x for x in f["/features"] if x.startswith("loss-")), key=lambda x: int(x.rsplit("-c", 1)[1]))
    if len(keys) < 2:
        sys.exit("%s: needs loss-gradient features at two or more checkpoints" % path)
    end, _ = load(f, keys[-1], count)
    end_norm = np.linalg.norm(end, axis=1)
    s, x, cos_mean = [], [], []
    for key in keys:
        phi, w = load(f, key, count)
        norm = np.linalg.norm(phi, axis=1)
        cos = np.einsum("ij,ij->i", phi, end) / np.maximum(norm * end_norm, 1e-300)
        s.append(np.mean(w * norm ** 2))
        x.append(np.mean(w * norm ** 2 * cos))
        cos_mean.append(cos.mean())
    s, x = np.array(s), np.array(x)
    return s.mean() / x.mean(), x / s, np.array(cos_mean), s / s[-1]


def main(paths):
    for path in paths:
        f_all, ratio, cos, trace = factor(path)
        print("%s: F = %.3f (first 512 points: %.3f)" % (path, f_all, factor(path, 512)[0]))
        print("  X_t/S_t    %s" % " ".join("%.2f" % v for v in ratio))
        print("  mean cos   %s" % " ".join("%.2f" % v for v in cos))
        print("  S_t/S_end  %s" % " ".join("%.2f" % v for v in trace))


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
