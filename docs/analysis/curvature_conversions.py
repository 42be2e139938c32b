#!/usr/bin/python3
"""Offline check of ways to carry the dynamics prior's λ into a method's curvature units.

Reads the output folders of the validation study's first commands (docs/validation-study.md;
each holding study.csv and <model>-<recipe>.h5) and, for every projected setting, recomputes the LDS of the
method on the study's ground truth (the same subsets and test losses) at
  * the recommended λ (the trace ratio ρ, as shipped): must reproduce the study's ratio;
  * "df-match": the λ whose effective dimension Σ e/(e+λ) in the method's curvature equals
    that of the Gauss–Newton curvature Φᵀ W Φ at the rule's Gauss–Newton λ (rec/ρ);
  * "test-energy match": the same, with each direction weighted by the test features' energy;
and, for TRAK, the LDS of TRAK with the Gauss–Newton-weighted curvature Φᵀ W Φ (W = p(1−p))
at the rule's λ and at its own best grid λ.
Ratios are to the method's best LDS on the relative grid 10^(-3 … 1.5, step 1/4) (a coarser
grid than the study's, so a ratio can exceed 1). Needs numpy and h5py (Debian: python3-h5py);
run with /usr/bin/python3. Takes a few minutes on 2 cores.

usage: curvature_conversions.py STUDY_DIR [STUDY_DIR ...]   (e.g. study-lr study-mlp study-cnn)
"""
import csv
import os
import sys

import h5py
import numpy as np


def ranks(x):
    """1-based average ranks (ties share the mean position), per row of a 2-D array."""
    out = np.empty_like(x, dtype=np.float64)
    for r in range(x.shape[0]):
        row = x[r]
        order = np.argsort(row, kind="mergesort")
        sorted_row = row[order]
        rk = np.empty(len(row))
        i = 0
        while i < len(row):
            j = i
            while j + 1 < len(row) and sorted_row[j + 1] == sorted_row[i]:
                j += 1
            rk[order[i:j + 1]] = (i + j + 2) / 2.0
            i = j + 1
        out[r] = rk
    return out


def lds_scorer(study):
    """The LDS of a (tests × train) score matrix against the ground truth stored in `study` (an
    open experiment file): mean over test points of the Spearman correlation, over the subsets,
    between the subset's summed scores and its retrained −loss."""
    masks = study["/ground_truth/masks"][:].astype(np.float64)
    y = ranks(-study["/ground_truth/test_loss"][:].T)
    y -= y.mean(1, keepdims=True)

    def lds(scores):
        s = ranks(scores @ masks.T)
        s -= s.mean(1, keepdims=True)
        return ((s * y).sum(1) / np.sqrt((s * s).sum(1) * (y * y).sum(1) + 1e-300)).mean()
    return lds


def solve_decreasing(fn, target, lo, hi):
    lo, hi = np.log(lo), np.log(hi)
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        if fn(np.exp(mid)) > target:
            lo = mid
        else:
            hi = mid
    return np.exp(0.5 * (lo + hi))


def setting(folder, model, recipe, method, k, row):
    f = h5py.File(os.path.join(folder, "%s-%s.h5" % (model, recipe)), "r")
    prefix = "margin-" if method == "trak" else "loss-"
    key = [x for x in f["/features"] if x.startswith(prefix)][0]
    g = f["/features/" + key]
    train = g["train"][:, :k].astype(np.float64)
    test = g["test"][:, :k].astype(np.float64)
    loss = g["train_loss"][:].astype(np.float64)
    p, q = np.exp(-loss), -np.expm1(-loss)
    if method == "trak":   # curvature Φ^T Φ, output weight 1 − p; Gauss–Newton weight p(1 − p)
        w, out = p * q, q
    else:                  # empirical Fisher of loss gradients; Gauss–Newton weight p/(1 − p)
        w, out = p / np.maximum(q, 1e-300), np.ones_like(q)
    lds = lds_scorer(f)
    e, v = np.linalg.eigh(train.T @ train)
    e = np.clip(e, 0, None)
    mean_eig = e.mean()
    a, b = test @ v, (train @ v).T * out
    e_gn, v_gn = np.linalg.eigh((train * w[:, None]).T @ train)
    e_gn = np.clip(e_gn, 0, None)
    rho = e.sum() / e_gn.sum()
    # The study's λ is in the method's own convention; keep its value relative to the mean eigenvalue.
    rec = float(row["recommended_lambda"]) / float(row["mean_eigenvalue"]) * mean_eig
    lam_gn = rec / rho

    rels = 10.0 ** np.arange(-3, 1.51, 0.25)
    curve = np.array([lds((a / (e + r * mean_eig)) @ b) for r in rels])
    best = curve.max()

    df_gn = (e_gn / (e_gn + lam_gn)).sum()
    lam_df = solve_decreasing(lambda l: (e / (e + l)).sum(), df_gn, mean_eig * 1e-8, mean_eig * 1e4)
    t, t_gn = (a ** 2).sum(0), ((test @ v_gn) ** 2).sum(0)
    energy_gn = (t_gn * e_gn / (e_gn + lam_gn)).sum() / t_gn.sum()
    lam_te = solve_decreasing(lambda l: (t * e / (e + l)).sum() / t.sum(), energy_gn,
                              mean_eig * 1e-8, mean_eig * 1e4)
    cells = ["%.3f" % (lds((a / (e + l)) @ b) / best) for l in (rec, lam_df, lam_te)]
    if method == "trak":
        a_gn, b_gn = test @ v_gn, (train @ v_gn).T * out
        gn_curve = [lds((a_gn / (e_gn + r * e_gn.mean())) @ b_gn) for r in rels]
        gn_rule = lds((a_gn / (e_gn + lam_gn)) @ b_gn)
        cells += ["%.3f" % (max(gn_curve) / best), "%.3f" % (gn_rule / max(gn_curve))]
    else:
        cells += ["", ""]
    print("| %s | %s | %s | %d | %.4f | %s |" % (model, recipe, method, k, best, " | ".join(cells)))
    sys.stdout.flush()


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    print("| model | recipe | method | k | best LDS | trace ρ (shipped) | df-match | test-energy match | "
          "GN-TRAK best / TRAK best | GN-TRAK at rule λ / its best |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for folder in sys.argv[1:]:
        for row in csv.DictReader(open(os.path.join(folder, "study.csv"))):
            method = {"trak": "trak", "if-projected": "if"}.get(row["method"])
            if method:
                setting(folder, row["model"], row["recipe"], method, int(row["k"]), row)


if __name__ == "__main__":
    main()
