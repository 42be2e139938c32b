#!/usr/bin/python3
"""The path rules' tables (README, "How good it is"; docs/validation-study.md): one row per setting of the given study folders (each
run with `study ... --path-checkpoints C`), from their study.csv.

Columns: the best grid LDS (at or below 0, no ratio is shown); the ratio to it (recommended LDS / best LDS) of dynamics-prior,
of path-match (with its 90% interval under ground-truth noise) and of path-or-prior, which is
path-match where the recorded run is stable (stability <= 1) and dynamics-prior otherwise; the
stability number; path-match's time, path-or-prior's (a lower bound on the stability number
rules an unstable run out before path-match runs), and path-or-prior's time as a share of
retraining 50 models (the study's retraining time scaled from its M to 50); and the LDS of the
λ-free method `unrolled` on the same checkpoints, over the best grid LDS (where the study
computed it).

With --decision, a column after path-or-prior says which rule it took: "path" where its λ is
path-match's and the run is stable, else "prior" (for the budgeted default, README "How good it
is"; where both rules give the same grid λ it reads "path").

    /usr/bin/python3 docs/analysis/path_study_table.py study-cnn study-mlp study-lr
    /usr/bin/python3 docs/analysis/path_study_table.py --no-seconds study-cnn   # without the times
    /usr/bin/python3 docs/analysis/path_study_table.py --decision study-cnn     # with the rule taken
"""
import csv
import math
import os
import sys


def number(text):
    try:
        return float(text)
    except ValueError:
        return math.nan


def fmt(v, digits=3):
    return "–" if math.isnan(v) else ("%.*g" % (digits, v))


def main(folders, seconds=True, decision=False):
    timing = " path-match s | path-or-prior s | its % of 50 retrainings |" if seconds else ""
    took = " took |" if decision else ""
    print("| model | recipe | method | k | M | best LDS | dynamics-prior | path-match (90% interval) | stability "
          "| path-or-prior |" + took + timing + " unrolled method / best |")
    print("|---" * ((14 if seconds else 11) + (1 if decision else 0)) + "|")
    for folder in folders:
        md = open(os.path.join(folder, "study.md"), encoding="utf-8").read()
        # "LDS over M = 500 retrained models" in the study's header line.
        m = int(md.split("LDS over M = ", 1)[1].split(" ", 1)[0])
        with open(os.path.join(folder, "study.csv"), newline="") as f:
            for row in csv.DictReader(f):
                best = number(row["best_lds"])
                # A ratio to a best LDS at or below 0 says nothing (no attribution signal): "–".
                usable = best > 0
                prior = number(row["dynamics-prior_lds"]) / best if usable else math.nan
                path = number(row.get("path-match_ratio", "nan")) if usable else math.nan
                either = number(row.get("path-or-prior_lds", "nan")) / best if usable else math.nan
                low, high = number(row.get("path-match_ratio_low", "nan")), number(row.get("path-match_ratio_high", "nan"))
                stability = number(row.get("path-match_stability", "nan"))
                pathSeconds = number(row.get("path-match_seconds", "nan"))
                eitherSeconds = number(row.get("path-or-prior_seconds", "nan"))
                share = 100.0 * eitherSeconds / (number(row["retrain_seconds"]) * 50.0 / m)
                unrolled = number(row.get("unrolled_lds", "nan")) / best if usable else math.nan
                mark = lambda r: fmt(r) + ("" if math.isnan(r) or r >= 0.95 else " ✗")
                interval = "" if math.isnan(low) or not usable else " (%s–%s)" % (fmt(low), fmt(high))
                cells = [row["model"], row["recipe"], row["method"], row["k"], str(m), fmt(best), mark(prior),
                         mark(path) + interval, fmt(stability) + (" (unstable)" if stability > 1 else ""), mark(either)]
                if decision:
                    onPath = row.get("path-or-prior_lambda") == row.get("path-match_lambda") and stability <= 1
                    cells.append("path" if onPath else "prior")
                if seconds:
                    cells += [fmt(pathSeconds, 2), fmt(eitherSeconds, 2), fmt(share, 2)]
                print("| " + " | ".join(cells + [fmt(unrolled)]) + " |")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    args = sys.argv[1:]
    main([a for a in args if not a.startswith("--")], "--no-seconds" not in args, "--decision" in args)
