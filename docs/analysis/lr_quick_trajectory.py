#!/usr/bin/python3
"""How stable is the study's quick LR recipe (SGD, rate 0.1, batch 32, 2 epochs)?

Trains logistic regression on the study's data (the first 5000 Fashion-MNIST training images,
scaled to [0, 1] and normalized with the experiment's mean 0.286 and std 0.353, plus a bias) with
that recipe in numpy, for three seeds, and prints the full training loss every 20 steps. This is
not the tool's trainer (other initialization and shuffling draws), only the same recipe: it shows
whether the run settles or keeps jumping. Needs numpy and the Debian package
dataset-fashion-mnist; run with /usr/bin/python3. Takes a few seconds.

usage: lr_quick_trajectory.py
"""
import gzip

import numpy as np

DATA = "/usr/share/datasets/fashion-mnist/"


def read(name, offset):
    with gzip.open(DATA + name) as f:
        return np.frombuffer(f.read(), np.uint8, offset=offset)


def main():
    x = read("train-images-idx3-ubyte.gz", 16).reshape(-1, 784)[:5000].astype(np.float64) / 255.0
    y = read("train-labels-idx1-ubyte.gz", 8)[:5000].astype(int)
    x = np.hstack([(x - 0.286) / 0.353, np.ones((len(x), 1))])
    rows = np.arange(len(x))

    def mean_loss(w):
        z = x @ w
        z -= z.max(1, keepdims=True)
        log_p = z - np.log(np.exp(z).sum(1, keepdims=True))
        return -log_p[rows, y].mean()

    for seed in (0, 1, 2):
        rng = np.random.default_rng(seed)
        w = rng.uniform(-1 / 28.0, 1 / 28.0, (785, 10))
        trace = []
        for _ in range(2):
            order = rng.permutation(len(x))
            for step, begin in enumerate(range(0, len(x), 32)):
                batch = order[begin:begin + 32]
                z = x[batch] @ w
                z -= z.max(1, keepdims=True)
                p = np.exp(z)
                p /= p.sum(1, keepdims=True)
                p[np.arange(len(batch)), y[batch]] -= 1.0
                w -= 0.1 * x[batch].T @ p / len(batch)
                if (step + 1) % 20 == 0:
                    trace.append(mean_loss(w))
        print("seed %d, train loss every 20 steps: %s" % (seed, " ".join("%.2f" % v for v in trace)))


if __name__ == "__main__":
    main()
