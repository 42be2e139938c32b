#!/usr/bin/python3
"""A table of top-k removal checks (`attriscope-cli check`) stored in experiment files, with
paired comparisons between the checked methods.

Every check of the same test points, removal size and seed shares the baseline model and the
random removal, so methods can be compared test point by test point: the table gives, per
method, the mean test-loss increase after removing each test point's top-K proponents, the
random removal's, their paired difference with its standard error, and the share of test points
where the method's removal raised the loss more than the random one; then, for each pair of
methods, the mean paired difference of their top-K increases with its standard error.

    /usr/bin/python3 docs/analysis/removal_table.py mlp.h5 mlp-path.h5

Reads /checks/topk_removal/* of every file given (h5py, numpy).
"""
import itertools
import math
import sys

import h5py
import numpy as np


def stderr(x):
    return float(np.std(x, ddof=1) / math.sqrt(len(x))) if len(x) > 1 else math.nan


def main(paths):
    checks = []
    for path in paths:
        with h5py.File(path, "r") as f:
            if "checks/topk_removal" not in f:
                continue
            for name, g in f["checks/topk_removal"].items():
                checks.append({
                    "name": name,
                    "lambda": float(g.attrs["lambda"]),
                    "k_removed": int(g.attrs["removed_per_test"]),
                    "seed": int(g.attrs["seed"]),
                    "repeats": int(g.attrs["repeats"]) if "repeats" in g.attrs else 1,
                    "tests": g["tests"][()],
                    "top": g["topk_increase"][()],
                    "random": g["random_increase"][()],
                    "baseline": g["baseline_loss"][()],
                })
    if not checks:
        sys.exit("no top-k removal checks in " + ", ".join(paths))
    print("| method | λ | test points | removed | mean loss increase, top-K | random | difference ± s.e. | top-K > random |")
    print("|---|---|---|---|---|---|---|---|")
    for c in checks:
        d = c["top"] - c["random"]
        lam = "–" if math.isnan(c["lambda"]) else f"{c['lambda']:.4g}"
        print(f"| {c['name']} | {lam} | {len(c['tests'])} | {c['k_removed']} | {c['top'].mean():+.4f} | "
              f"{c['random'].mean():+.4f} | {d.mean():+.4f} ± {stderr(d):.4f} | "
              f"{int((d > 0).sum())} of {len(d)} |")
    pairs = [(a, b) for a, b in itertools.combinations(checks, 2)
             if np.array_equal(a["tests"], b["tests"]) and a["k_removed"] == b["k_removed"]
             and a["seed"] == b["seed"] and a["repeats"] == b["repeats"]
             and np.allclose(a["baseline"], b["baseline"], rtol=0, atol=1e-9)]
    if pairs:
        print()
        print("| paired: A − B | mean difference of top-K increases ± s.e. | A higher |")
        print("|---|---|---|")
        for a, b in pairs:
            d = a["top"] - b["top"]
            print(f"| {a['name']} − {b['name']} | {d.mean():+.4f} ± {stderr(d):.4f} | {int((d > 0).sum())} of {len(d)} |")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
