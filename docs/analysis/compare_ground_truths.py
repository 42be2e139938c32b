#!/usr/bin/python3
"""Compares two ground truths of one experiment: the same features judged against two sets of
retrained models (for example the app's own retraining, `lds --subsets M`, and PyTorch's,
`lds --ground-truth-from`), and how much of their difference the subsets' sampling explains.

    /usr/bin/python3 docs/analysis/compare_ground_truths.py mlp.h5 mlp-pt.h5 [METHOD] [K]

For each k of the stored "lds" table of METHOD (default if-projected) it prints the largest and
the mean difference between the two LDS(λ) curves over relative λ ≥ 1e-3 and their correlation.
Then, at K (default 1024) and λ = the mean eigenvalue, it recomputes projected IF scores from the
stored features (the first K columns, Σ φφᵀ/n + λI, as the app does) and the LDS of each ground
truth on blocks of 50 of its subsets: the spread of the blocks is the noise of a 50-model ground
truth, and their standard deviation over √(blocks) that of the whole one. Reads the files with
h5py and numpy; features of 5000 × K floats fit in memory.
"""
import sys

import h5py
import numpy as np


def rank_columns(a):
    return np.argsort(np.argsort(a, axis=0), axis=0).astype(np.float64)


def lds(pred, target):
    """Mean over test points (columns) of the Spearman correlation across subsets (rows)."""
    a = rank_columns(pred)
    b = rank_columns(target)
    a -= a.mean(0)
    b -= b.mean(0)
    with np.errstate(invalid="ignore"):
        r = (a * b).sum(0) / np.sqrt((a * a).sum(0) * (b * b).sum(0))
    return float(np.nanmean(r))


def main(first, second, method="if-projected", k=1024):
    files = [h5py.File(first, "r"), h5py.File(second, "r")]
    tables = [f[f"attribution/{method}/sweeps/lds"] for f in files]
    rel = tables[0]["relative_lambda"][()]
    shown = rel >= 1e-3
    for column, kk in enumerate(tables[0]["k"][()]):
        a, b = (t["values"][()][shown, column] for t in tables)
        print(f"k {kk:5d}: largest |difference| {np.abs(a - b).max():.4f}, mean difference {np.mean(a - b):+.4f}, "
              f"correlation {np.corrcoef(a, b)[0, 1]:.4f} (LDS(λ) over relative λ ≥ 1e-3)")

    key = [name for name in files[0]["features"] if name.startswith("loss-")][0]
    x = files[0][f"features/{key}/train"][:, :k].astype(np.float64)
    t = files[0][f"features/{key}/test"][:, :k].astype(np.float64)
    curvature = x.T @ x / x.shape[0]
    lam = np.trace(curvature) / k
    scores = t @ np.linalg.solve(curvature + lam * np.eye(k), x.T)
    print(f"features {key}, k {k}, λ = mean eigenvalue {lam:.4g}:")
    for path, f in zip((first, second), files):
        masks = f["ground_truth/masks"][()].astype(np.float64)
        target = -f["ground_truth/test_loss"][()]
        pred = masks @ scores.T
        blocks = [lds(pred[s:s + 50], target[s:s + 50]) for s in range(0, len(masks) - 49, 50)]
        spread = np.std(blocks, ddof=1) / np.sqrt(len(blocks)) if len(blocks) > 1 else float("nan")
        print(f"  {path}: LDS {lds(pred, target):.4f} on {len(masks)} models; on blocks of 50: "
              + " ".join(f"{b:.3f}" for b in blocks) + f"; standard error of the whole ≈ {spread:.4f}")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    main(sys.argv[1], sys.argv[2], *(sys.argv[3:4]), *(int(v) for v in sys.argv[4:5]))
