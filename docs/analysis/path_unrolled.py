#!/usr/bin/python3
"""Offline check: influence unrolled along the recorded training path, as an attribution and as a
way to choose λ for projected IF and TRAK.

Early-stopped gradient descent on a subset, linearised one checkpoint segment at a time (the
per-sample gradients φ_i(s) and the Gauss–Newton curvature H_s of segment s held at the values of
the checkpoint that ends it), changes the test loss by

    τ(z′, z_i) ∝ φ′(T)ᵀ Σ_s [Π_{s′>s} exp(−a_s′ H_s′)] H_s⁻¹ (I − exp(−a_s H_s)) φ_i(s),

with a_s = (η_eff / c) · (steps of a subset model in segment s): the rate is η/(1 − momentum), c
the projection's feature scale (mean ‖φ‖² / mean ‖g‖² of the first 512 training points, as the
selector measures it), H_s = (1/n) Σ_i p_i/(1 − p_i) φ_iφ_iᵀ + c·wd the Gauss–Newton curvature of
the loss at the checkpoint in feature units, and a subset model (⌊n/2⌋ points, the LDS's α = 1/2)
takes ⌈⌊n/2⌋/B⌉ steps per epoch. Nothing is fitted. With a single segment held at the final
model ("frozen") this is the dynamics prior's early-stopping filter; with the recorded
checkpoints it keeps how the gradients and the curvature moved during the run.

For every projected setting of the study folder it prints, as ratios to the method's best LDS on
the relative grid 10^(−3 … 1.5, step 1/4) (coarser than the study's, so a ratio can exceed 1):
  * the shipped recommendation (the study's recommended λ);
  * "frozen match" / "path match": the λ of the grid whose IF or TRAK scores have the largest
    mean (over test points) cosine with the unrolled scores, frozen or along the path;
  * the LDS of the unrolled path scores themselves, and of TracIn (Σ_s φ′(s)ᵀφ_i(s)) on the same
    checkpoints, each as a ratio to the method's best (> 1: better than the method at any λ).

Inputs: CHECKPOINTED.h5 is the study's model trained again with checkpoints and featurized at
every checkpoint, e.g.
    attriscope-cli train --data fashion-mnist --model cnn --checkpoints 10 --out cnn10.h5
    attriscope-cli attribute cnn10.h5 --method tracin --k 1024
(the same recipe flags as the study's; training is deterministic, so its final model is the
study's, which the script checks). STUDY_DIR is the study's output folder, holding study.csv and
<model>-<recipe>.h5 with its ground truth. Needs numpy and h5py; run with /usr/bin/python3.

`--keep I,J,...` uses only those checkpoints (0-based indices, in order, ending with the last):
the segments then span the epochs between the kept ones.

usage: path_unrolled.py CHECKPOINTED.h5 STUDY_DIR [--keep I,J,...]
"""
import csv
import os
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from curvature_conversions import lds_scorer  # noqa: E402


def gauss_newton_weight(loss):
    """p/(1 − p) from per-sample losses; a sample with p = 1 exactly has no weight."""
    p, q = np.exp(-loss), -np.expm1(-loss)
    return np.where(q > 0, p / np.where(q > 0, q, 1.0), 0.0)


class CheckpointedRun:
    def __init__(self, path, keep=None):
        self.file = h5py.File(path, "r")
        recipe = dict(self.file["model/recipe"].attrs)
        self.eta = recipe["lr"] / (1.0 - recipe["momentum"])
        self.weight_decay = recipe["weight_decay"]
        self.epochs = int(recipe["epochs"])
        self.batch = int(recipe["batch_size"])
        self.keys = sorted((x for x in self.file["features"] if x.startswith("loss-")),
                           key=lambda s: int(s.rsplit("-c", 1)[1]))
        if not self.keys:
            sys.exit("%s: no loss-gradient features (run: attribute FILE --method tracin --k K)" % path)
        if keep is not None:
            self.keys = [self.keys[i] for i in keep]
        # Epochs completed at each kept checkpoint (from /model/checkpoints), so segments may differ;
        # fractional (step / steps per epoch) when the file records steps, as checkpoints inside
        # epochs need.
        last = self.file["features/" + self.keys[-1]]
        self.n = last["train"].shape[0]
        full_steps_per_epoch = -(-self.n // self.batch)
        stored = sorted(self.file["model/checkpoints"].keys())

        def epochs_at(key):
            attrs = self.file["model/checkpoints/" + stored[int(key.rsplit("-c", 1)[1])]].attrs
            if "step" in attrs and int(attrs["step"]) > 0:
                return int(attrs["step"]) / full_steps_per_epoch
            return float(attrs["epoch"])
        self.epoch_at = [epochs_at(key) for key in self.keys]
        self.k_max = last["train"].shape[1]
        self.train_loss = float(self.file["model/metrics"].attrs["train_loss"])

    def checkpoint(self, index, k):
        d = self.file["features/" + self.keys[index]]
        train = d["train"][:, :k].astype(np.float64)
        test = d["test"][:, :k].astype(np.float64)
        loss = d["train_loss"][:].astype(np.float64)
        scale = (train[:512] ** 2).sum(1).mean() / d.attrs["gradient_sq_norm_mean"]
        return train, test, loss, scale

    def unrolled(self, k, frozen, alpha=0.5):
        """Unrolled scores (tests × train) at projection size k, for models on ⌊alpha·n⌋ points
        (alpha = 1: the recorded run itself, as the attribution method `unrolled` computes them)."""
        final = self.checkpoint(len(self.keys) - 1, k)
        steps_per_epoch = int(np.ceil(int(np.floor(alpha * self.n)) / self.batch))
        scores = np.zeros((final[1].shape[0], self.n))
        carried = final[1].copy()  # φ′(T)ᵀ Π_{later segments} exp(−a H)
        for index in range(len(self.keys) - 1, -1, -1):
            train, _, loss, scale = final if frozen else self.checkpoint(index, k)
            h = (train * gauss_newton_weight(loss)[:, None]).T @ train / self.n
            mu, v = np.linalg.eigh(h)
            mu = np.clip(mu, 0.0, None) + scale * self.weight_decay
            segment_epochs = self.epoch_at[index] - (self.epoch_at[index - 1] if index > 0 else 0.0)
            a = self.eta / scale * steps_per_epoch * (self.epochs if frozen else segment_epochs)
            small = mu * a < 1e-12
            filt = np.where(small, a, -np.expm1(-a * mu) / np.where(small, 1.0, mu))
            cv = carried @ v
            scores += ((cv * filt) @ v.T) @ train.T
            carried = (cv * np.exp(-a * mu)) @ v.T
            if frozen:
                break
        return scores

    def tracin(self, k):
        scores = 0.0
        for index in range(len(self.keys)):
            train, test, _, _ = self.checkpoint(index, k)
            scores = scores + test @ train.T
        return scores


def mean_cosine(a, b):
    a = a - a.mean(1, keepdims=True)
    b = b - b.mean(1, keepdims=True)
    return ((a * b).sum(1) / np.sqrt((a * a).sum(1) * (b * b).sum(1) + 1e-300)).mean()


def main():
    args = sys.argv[1:]
    keep = None
    if len(args) == 4 and args[2] == "--keep":
        keep = [int(x) for x in args[3].split(",")]
        args = args[:2]
    if len(args) != 2:
        sys.exit(__doc__)
    run = CheckpointedRun(args[0], keep)
    sys.argv[1:] = args
    folder = sys.argv[2]
    rels = 10.0 ** np.arange(-3, 1.51, 0.25)
    cache = {}
    matched = 0
    print("| model | recipe | method | k | checkpoints | best LDS | shipped rule | frozen match | path match | "
          "unrolled path / best | TracIn / best |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for row in csv.DictReader(open(os.path.join(folder, "study.csv"))):
        method, k = row["method"], int(row["k"])
        if method not in ("if-projected", "trak") or k > run.k_max:
            continue
        study = h5py.File(os.path.join(folder, "%s-%s.h5" % (row["model"], row["recipe"])), "r")
        if abs(float(study["model/metrics"].attrs["train_loss"]) - run.train_loss) > 1e-9:
            continue  # another recipe's model in the same study folder
        matched += 1
        lds = lds_scorer(study)
        # The method's features at the final checkpoint (the highest index).
        key = max((x for x in study["/features"] if x.startswith("margin-" if method == "trak" else "loss-")),
                  key=lambda s: int(s.rsplit("-c", 1)[1]))
        d = study["/features/" + key]
        train = d["train"][:, :k].astype(np.float64)
        test = d["test"][:, :k].astype(np.float64)
        out = -np.expm1(-d["train_loss"][:].astype(np.float64)) if method == "trak" else 1.0
        e, v = np.linalg.eigh(train.T @ train)
        e = np.clip(e, 0.0, None)
        mean_eig = e.mean()
        a, b = test @ v, (train @ v).T * out
        method_scores = [(a / (e + r * mean_eig)) @ b for r in rels]
        curve = np.array([lds(s) for s in method_scores])
        best = curve.max()
        rule_rel = float(row["recommended_lambda"]) / float(row["mean_eigenvalue"])
        cells = ["%.3f" % (lds((a / (e + rule_rel * mean_eig)) @ b) / best)]
        for frozen in (True, False):
            if (k, frozen) not in cache:
                cache[(k, frozen)] = run.unrolled(k, frozen)
            match = [mean_cosine(cache[(k, frozen)], s) for s in method_scores]
            i = int(np.argmax(match))
            cells.append("%.3f (%.3g)" % (curve[i] / best, rels[i]))
        cells.append("%.3f" % (lds(cache[(k, False)]) / best))
        if ("tracin", k) not in cache:
            cache[("tracin", k)] = run.tracin(k)
        cells.append("%.3f" % (lds(cache[("tracin", k)]) / best))
        print("| %s | %s | %s | %d | %d | %.4f | %s |" % (row["model"], row["recipe"], method, k, len(run.keys),
                                                          best, " | ".join(cells)))
        sys.stdout.flush()
    if matched == 0:
        sys.exit("%s: no model of %s/study.csv has this file's train loss (%.6g): train it with the study's "
                 "recipe flags" % (sys.argv[1], folder, run.train_loss))


if __name__ == "__main__":
    main()
