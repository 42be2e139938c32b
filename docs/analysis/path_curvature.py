#!/usr/bin/python3
"""How the curvature of the final model's eigendirections changed along the training run.

Reads an experiment file trained with several checkpoints and featurized at every checkpoint
with loss gradients (`attriscope-cli train --checkpoints 10` then `attribute --method tracin`:
features /features/loss-<proj>-k<K>-s<seed>-<layers>-c<j>, all with the same projection).
For the Gauss–Newton curvature in the method's feature space at the last checkpoint,
GN = Σ_i w_i φ_i φ_iᵀ / n with w = p/(1 − p) (p = exp(−loss)), it takes the eigenvectors v and
prints, for bands of them by rank, the mean over checkpoints of vᵀ GN_t v / vᵀ GN_end v: how
much curvature each band of final directions had earlier in the run (1 = as much as at the end),
and the same for the trace. Only the top bands are meaningful: the Rayleigh quotient of a small
eigenvalue's eigenvector under another matrix picks up the large eigenvalues and is biased up.
Needs numpy and h5py; run with /usr/bin/python3.

usage: path_curvature.py EXP.h5 [K]
"""
import sys

import h5py
import numpy as np


def gauss_newton(f, key, k):
    g = f["/features/" + key]
    phi = g["train"][:, :k].astype(np.float64)
    loss = g["train_loss"][:].astype(np.float64)
    p, q = np.exp(-loss), -np.expm1(-loss)
    w = np.where(q > 0, p / np.maximum(q, 1e-300), 0.0)
    return (phi * w[:, None]).T @ phi / len(loss)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    f = h5py.File(sys.argv[1], "r")
    k = int(sys.argv[2]) if len(sys.argv) > 2 else 1024
    keys = sorted((x for x in f["/features"] if x.startswith("loss-")),
                  key=lambda x: int(x.rsplit("-c", 1)[1]))
    if len(keys) < 2:
        sys.exit("%s: needs loss-gradient features at two or more checkpoints" % sys.argv[1])
    end = gauss_newton(f, keys[-1], k)
    mu, v = np.linalg.eigh(end)
    order = np.argsort(mu)[::-1]
    mu, v = np.clip(mu[order], 1e-300, None), v[:, order]
    quotients, traces = [], []
    for key in keys:
        gn = gauss_newton(f, key, k)
        quotients.append(np.einsum("ij,ik,kj->j", v, gn, v) / mu)
        traces.append(np.trace(gn) / np.trace(end))
    quotients = np.array(quotients)
    print("checkpoints: %d; trace at each / at the end: %s" %
          (len(keys), " ".join("%.2f" % t for t in traces)))
    print("| eigendirections (rank) | eigenvalues | mean over checkpoints | at each checkpoint |")
    print("|---|---|---|---|")
    for lo, hi in [(0, 5), (5, 20), (20, 50), (50, 100), (100, 200), (200, 400)]:
        if lo >= k:
            break
        band = quotients[:, lo:min(hi, k)].mean(1)
        print("| %d–%d | %.3g–%.3g | %.2f | %s |" % (lo + 1, min(hi, k), mu[min(hi, k) - 1], mu[lo],
                                                  band.mean(), " ".join("%.2f" % b for b in band)))


if __name__ == "__main__":
    main()
