#!/usr/bin/python3
"""Trains an image classifier in PyTorch and saves what AttriScope imports: the trained model,
its initial weights and checkpoints along the run, all as TorchScript, and manifest.json, which
names them and holds the recipe, so that `attriscope-cli import --checkpoints-from DIR` reads it all.

Run with Debian's PyTorch (python3-torch works with /usr/bin/python3 only):
    /usr/bin/python3 docs/examples/train_in_pytorch.py --out my-run
It trains on the first 5000 training images of Debian's Fashion-MNIST (dataset-fashion-mnist),
the same points `--data fashion-mnist` selects in AttriScope, and prints the `import` command
that brings the run in (add --test-size and data options as for any import). Replace `Classifier` and the data with your own; keep the recipe you
train with, because AttriScope's ground truth retrains with it.

What AttriScope needs from the module:
  * forward(x) takes a float tensor N x C x H x W (the dataset's images scaled to [0, 1], then
    normalized with --mean/--std if you give them to `import`: use what the model was trained
    with; this script trains on [0, 1] images, so none) and returns logits N x K (no softmax).
  * A model that is one nn.Sequential gets exact batched per-sample gradients for its Linear and
    Conv2d layers; any other model (such as the classes below, whose forward calls attributes and
    functions) gets the same exact gradients from a slower per-sample loop.
  * Scripting (torch.jit.script) keeps the module structure; tracing works too for modules
    without data-dependent control flow.
Loading a TorchScript file runs its code: share and load only files you trust.
"""
import argparse
import gzip
import json
import math
import os
import shlex

import numpy as np
import torch
from torch import nn


class LogisticRegression(nn.Module):
    """One linear layer on the pixels (multinomial logistic regression)."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(28 * 28, 10)

    def forward(self, x):
        return self.fc(torch.flatten(x, 1))


class Classifier(nn.Module):
    """A small MLP for 28x28 grey images and 10 classes; replace it with your own model."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(28 * 28, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(torch.flatten(x, 1))))


class SmallCnn(nn.Module):
    """Two 3x3 convolutions (8 and 16 channels), each with ReLU and 2x2 max-pooling, and a linear
    read-out: a small CNN for 28x28 grey images and 10 classes."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.fc = nn.Linear(16 * 7 * 7, 10)

    def forward(self, x):
        x = nn.functional.max_pool2d(torch.relu(self.conv1(x)), 2)
        x = nn.functional.max_pool2d(torch.relu(self.conv2(x)), 2)
        return self.fc(torch.flatten(x, 1))


def read_idx(path):
    """An IDX file (raw or .gz) as a numpy array."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def save(model, path):
    """Saves the module as TorchScript, checking that the export computes what the module does."""
    model.eval()
    scripted = torch.jit.script(model)
    x = torch.rand(4, 1, 28, 28)
    with torch.no_grad():
        assert torch.allclose(scripted(x), model(x))
    scripted.save(path)
    model.train()


def parse_augment(spec):
    """"none", "hflip", "crop:P" or "hflip,crop:P" as (flip?, padding P), as AttriScope's --augment."""
    hflip, pad = False, 0
    if spec != "none":
        for item in spec.split(","):
            if item == "hflip" and not hflip:
                hflip = True
            elif item.startswith("crop:") and item[5:].isdigit() and not pad and 1 <= int(item[5:]) <= 64:
                pad = int(item[5:])
            else:
                raise ValueError(f"--augment: expected none, hflip, crop:P or hflip,crop:P, got {spec!r}")
    return hflip, pad


def augment(xb, hflip, pad):
    """A batch as torchvision's RandomCrop(size, padding=pad) and then RandomHorizontalFlip() would
    change it, image by image: padded with black (0 in these [0, 1] images), cut back to its size at
    a random offset, mirrored with probability 1/2."""
    if pad:
        n, _, h, w = xb.shape
        padded = nn.functional.pad(xb, (pad, pad, pad, pad))
        top = torch.randint(0, 2 * pad + 1, (n,)).tolist()
        left = torch.randint(0, 2 * pad + 1, (n,)).tolist()
        xb = torch.stack([padded[i, :, top[i]:top[i] + h, left[i]:left[i] + w] for i in range(n)])
    if hflip:
        flip = torch.rand(len(xb)) < 0.5
        xb = torch.where(flip[:, None, None, None], xb.flip(3), xb)
    return xb


def train_lbfgs(model, x, y, args, checkpoint_dir=None, log=print):
    """Trains `model` to convergence as AttriScope's --optimizer lbfgs does: full-batch
    torch.optim.LBFGS with a strong-Wolfe line search on the mean cross-entropy plus
    weight_decay/2 * |theta|^2 (LBFGS has no weight_decay of its own), one iteration per call
    (max_iter=1; its history carries over between calls) until the gradient's max |g| <= --tolerance,
    at most --epochs iterations, or an iteration that cannot move. Returns the checkpoints saved
    every --checkpoint-every iterations (as (file name, iteration) pairs) and whether it converged."""
    params = list(model.parameters())
    optimizer = torch.optim.LBFGS(params, lr=args.lr, max_iter=1, tolerance_grad=args.tolerance,
                                  line_search_fn="strong_wolfe")
    loss_fn = nn.CrossEntropyLoss()
    seen = {}

    def closure():
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        data = loss.item()
        if args.weight_decay > 0:
            loss = loss + 0.5 * args.weight_decay * sum((p * p).sum() for p in params)
        loss.backward()
        if "grad" not in seen:  # the first evaluation of a call: the current iterate
            seen["grad"] = max(p.grad.abs().max().item() for p in params)
            seen["loss"], seen["objective"] = data, loss.item()
        return loss

    model.train()
    checkpoints = []
    iteration, previous = 0, None
    while True:
        seen.clear()
        if iteration == args.epochs:
            closure()  # the gradient at the last iterate
        else:
            optimizer.step(closure)
        stalled = iteration > 0 and (seen["objective"], seen["grad"]) == previous
        if seen["grad"] <= args.tolerance or iteration == args.epochs or stalled:
            break
        previous = (seen["objective"], seen["grad"])
        iteration += 1
        if checkpoint_dir and args.checkpoint_every and iteration % args.checkpoint_every == 0:
            name = f"iteration{iteration}.pt"
            save(model, os.path.join(checkpoint_dir, name))
            checkpoints.append((name, iteration))
    if stalled:
        iteration -= 1
    converged = seen["grad"] <= args.tolerance
    log(f"L-BFGS {'converged' if converged else 'did NOT converge'} after {iteration} iterations: loss "
        f"{seen['loss']:.6f}, max |g| {seen['grad']:.3g} (tolerance {args.tolerance:g})")
    # A checkpoint saved at the final iterate is the model itself.
    checkpoints = [(name, i) for name, i in checkpoints if i < iteration]
    return checkpoints, converged


def train(model, x, y, args, checkpoint_dir=None, log=print):
    """Trains `model` on (x, y) with the recipe in `args` (shuffling with torch's generator as the
    caller seeded it) and returns the checkpoints saved into `checkpoint_dir` as (file name, epoch)
    pairs (none without it). The ground truth's subset models (--ground-truth) are trained by this
    same function."""
    if args.optimizer == "lbfgs":
        return train_lbfgs(model, x, y, args, checkpoint_dir, log)[0]
    if args.optimizer == "adam":
        optimizer = torch.optim.Adam(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    elif args.optimizer == "adamw":
        optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    else:
        optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum,
                                    weight_decay=args.weight_decay, nesterov=args.optimizer == "nesterov")
    # The rate of step t (0-based), as AttriScope's --schedule and --warmup-epochs define it.
    steps_per_epoch = (len(x) + args.batch_size - 1) // args.batch_size
    total_steps = steps_per_epoch * args.epochs
    warmup = args.warmup_epochs * steps_per_epoch

    def rate(t):
        if t < warmup:
            return args.lr * min(1.0, (t + 1) / warmup)
        if args.schedule == "cosine":
            span = total_steps - math.ceil(warmup)
            return args.lr * 0.5 * (1 + math.cos(math.pi * (t - math.ceil(warmup)) / span))
        return args.lr

    # OneCycleLR itself, as a user's recipe would run it; AttriScope's "onecycle" follows its
    # defaults. cycle_momentum=False: AttriScope models a fixed momentum.
    scheduler = None
    if args.schedule == "onecycle":
        scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.lr, total_steps=total_steps,
                                                        cycle_momentum=False)

    hflip, pad = parse_augment(args.augment)
    step = 0
    loss_fn = nn.CrossEntropyLoss()
    checkpoints = []
    model.train()
    for epoch in range(1, args.epochs + 1):
        order = torch.randperm(len(x))
        total = 0.0
        for start in range(0, len(x), args.batch_size):
            batch = order[start:start + args.batch_size]
            optimizer.zero_grad()
            xb = augment(x[batch], hflip, pad) if hflip or pad else x[batch]
            loss = loss_fn(model(xb), y[batch])
            loss.backward()
            if scheduler is None:
                for group in optimizer.param_groups:
                    group["lr"] = rate(step)
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            step += 1
            total += loss.item() * len(batch)
        log(f"epoch {epoch}/{args.epochs}: loss {total / len(x):.4f}")
        if checkpoint_dir and epoch % (args.checkpoint_every or 2) == 0 and epoch < args.epochs:
            name = f"epoch{epoch}.pt"
            save(model, os.path.join(checkpoint_dir, name))
            checkpoints.append((name, epoch))
    return checkpoints


def ground_truth(init_path, x, y, test_x, test_y, args):
    """Retrains args.ground_truth models from the initial weights at `init_path`, each on a random
    half of the training points (subset j drawn with numpy's RandomState(args.gt_seed + j)), with
    the same recipe, and writes what `attriscope-cli lds --ground-truth-from` imports: masks
    (M x n, 1 = in subset j), test_loss (M x m cross-entropy of each test point under model j),
    the labels (checked against the experiment's) and the recipe. See docs/hdf5-layout.md."""
    import time
    import h5py  # Debian: python3-h5py

    n, subsets = len(x), args.ground_truth
    masks = np.zeros((subsets, n), dtype=np.uint8)
    test_loss = np.zeros((subsets, len(test_x)), dtype=np.float64)
    started = time.time()
    not_converged = 0
    for j in range(subsets):
        keep = np.sort(np.random.RandomState(args.gt_seed + j).choice(n, size=int(0.5 * n), replace=False))
        masks[j, keep] = 1
        torch.manual_seed(args.seed)  # every subset model shuffles like the full model
        model = torch.jit.load(init_path)
        index = torch.from_numpy(keep)
        if args.optimizer == "lbfgs":
            not_converged += not train_lbfgs(model, x[index], y[index], args, log=lambda line: None)[1]
        else:
            train(model, x[index], y[index], args, log=lambda line: None)
        model.eval()
        with torch.no_grad():
            logits = model(test_x).double()
            test_loss[j] = nn.functional.cross_entropy(logits, test_y, reduction="none").numpy()
        print(f"ground truth: model {j + 1}/{subsets} ({time.time() - started:.0f} s)", flush=True)
    if not_converged:
        print(f"warning: {not_converged} of {subsets} subset models did not reach the L-BFGS tolerance "
              f"within {args.epochs} iterations", flush=True)
    path = os.path.join(args.out, "ground_truth.h5")
    with h5py.File(path, "w") as f:
        f["masks"] = masks
        f["test_loss"] = test_loss
        f["train_labels"] = y.numpy()
        f["test_labels"] = test_y.numpy()
        f.attrs["alpha"] = 0.5
        f.attrs["seed"] = args.gt_seed
        f.attrs["seconds"] = time.time() - started
        if args.optimizer == "lbfgs":
            f.attrs["recipe"] = (f"PyTorch {torch.__version__} ({os.path.basename(__file__)}): lbfgs (full batch, "
                                 f"strong Wolfe) lr {args.lr:g}, at most {args.epochs} iterations, tolerance "
                                 f"{args.tolerance:g}, weight decay {args.weight_decay:g} (L2 term), seed "
                                 f"{args.seed}; {subsets - not_converged} of {subsets} converged")
        else:
            f.attrs["recipe"] = (f"PyTorch {torch.__version__} ({os.path.basename(__file__)}): {args.optimizer} "
                                 f"lr {args.lr:g}, batch {args.batch_size}, {args.epochs} epochs, momentum "
                                 f"{args.momentum:g}, weight decay {args.weight_decay:g}, schedule {args.schedule}, "
                                 f"warm-up {args.warmup_epochs:g} epochs, augment {args.augment}, seed {args.seed}")
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="my-run", help="folder for the .pt files (default my-run)")
    parser.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist",
                        help="Fashion-MNIST IDX files (default: Debian's dataset-fashion-mnist)")
    parser.add_argument("--train-size", type=int, default=5000, help="first N training images (default 5000)")
    parser.add_argument("--epochs", type=int, default=10,
                        help="training epochs (default 10); lbfgs: the cap on its iterations")
    parser.add_argument("--model", choices=["mlp", "lr", "cnn"], default="mlp",
                        help="mlp: 784-64-10 with ReLU (default); lr: logistic regression; cnn: two 3x3 "
                             "convolutions with max-pooling and a linear read-out")
    parser.add_argument("--optimizer", choices=["sgd", "nesterov", "adam", "adamw", "lbfgs"], default="sgd",
                        help="torch.optim.SGD (nesterov: with nesterov=True), Adam, AdamW, or LBFGS to convergence "
                             "(full batch, strong-Wolfe line search, weight decay as an L2 term in the loss, until "
                             "max |gradient| <= --tolerance or --epochs iterations; --lr is its step scale, use 1) "
                             "(default sgd)")
    parser.add_argument("--tolerance", type=float, default=1e-5,
                        help="lbfgs: the gradient tolerance, max |g| of loss + wd/2*|theta|^2 (default 1e-5)")
    parser.add_argument("--schedule", choices=["constant", "cosine", "onecycle"], default="constant",
                        help="learning-rate schedule, stepped per optimizer step (cosine: CosineAnnealingLR "
                             "to 0 over the steps after warm-up; onecycle: torch's OneCycleLR with max_lr = --lr, "
                             "its defaults and cycle_momentum=False, since AttriScope does not model momentum "
                             "cycling; default constant)")
    parser.add_argument("--warmup-epochs", type=float, default=0.0,
                        help="linear warm-up over the first W epochs (default 0)")
    parser.add_argument("--augment", default="none",
                        help="none, hflip, crop:P or hflip,crop:P: random horizontal flips and/or random crops "
                             "after padding by P black pixels, per image and batch (default none); AttriScope "
                             "retrains with the same augmentation")
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--momentum", type=float, default=0.0, help="SGD momentum (default 0)")
    parser.add_argument("--weight-decay", type=float, default=0.0, help="L2 weight decay (default 0)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--checkpoint-every", type=int, default=None,
                        help="epochs between checkpoints (default 2); lbfgs: iterations between checkpoints "
                             "(default none)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ground-truth", type=int, default=0, metavar="M",
                        help="also retrain M models on random halves of the training set with the same recipe "
                             "and write OUT/ground_truth.h5 for `attriscope-cli lds --ground-truth-from` "
                             "(default 0: none; the LDS needs about 50)")
    parser.add_argument("--gt-seed", type=int, default=0, help="subset j is drawn with seed GT_SEED + j (default 0)")
    parser.add_argument("--test-size", type=int, default=500,
                        help="first M test images the ground truth scores (default 500, as AttriScope's default)")
    args = parser.parse_args()
    if args.schedule == "onecycle" and args.warmup_epochs:
        parser.error("--warmup-epochs: onecycle warms up itself (from lr/25 to lr over 30% of the steps)")
    try:
        parse_augment(args.augment)
    except ValueError as e:
        parser.error(str(e))
    if args.optimizer == "lbfgs" and (args.momentum or args.schedule != "constant" or args.warmup_epochs
                                    or args.augment != "none"):
        parser.error("--optimizer lbfgs takes no --momentum, --schedule, --warmup-epochs or --augment (its line "
                     "search sets each step, on the full batch as it is)")

    images = read_idx(os.path.join(args.data_dir, "train-images-idx3-ubyte.gz"))[: args.train_size]
    labels = read_idx(os.path.join(args.data_dir, "train-labels-idx1-ubyte.gz"))[: args.train_size]
    x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)  # N x 1 x 28 x 28 in [0, 1]
    y = torch.from_numpy(labels.astype(np.int64))

    torch.manual_seed(args.seed)
    model = {"mlp": Classifier, "lr": LogisticRegression, "cnn": SmallCnn}[args.model]()
    os.makedirs(args.out, exist_ok=True)
    save(model, os.path.join(args.out, "init.pt"))

    checkpoints = train(model, x, y, args, checkpoint_dir=args.out)
    save(model, os.path.join(args.out, "model.pt"))

    # What `import --checkpoints-from DIR` reads: the files (relative to DIR), the epoch each
    # checkpoint was saved after, and the recipe with the keys of a recipe file (--recipe).
    # AttriScope's retraining draws its own shuffles, so the seed is not part of it.
    recipe = {"optimizer": args.optimizer, "lr": args.lr, "momentum": args.momentum,
              "batch_size": args.batch_size, "epochs": args.epochs, "weight_decay": args.weight_decay,
              "schedule": args.schedule, "warmup_epochs": args.warmup_epochs, "augment": args.augment}
    if args.optimizer in ("adam", "adamw"):
        del recipe["momentum"]
    if args.optimizer == "lbfgs":
        # Full batch and no schedule: the cap (epochs), the step scale, the decay and the tolerance.
        recipe = {"optimizer": "lbfgs", "lr": args.lr, "epochs": args.epochs, "weight_decay": args.weight_decay,
                  "tolerance": args.tolerance}
    manifest = {"model": "model.pt", "init": "init.pt",
                "checkpoints": [{"file": name, "epoch": epoch} for name, epoch in checkpoints],
                "recipe": recipe}
    with open(os.path.join(args.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")

    print(f"wrote {os.path.join(args.out, 'manifest.json')}; import the run with:\n"
          f"  attriscope-cli import --checkpoints-from {shlex.quote(args.out)} --data fashion-mnist "
          f"--train-size {args.train_size}"
          + (f" --test-size {args.test_size}" if args.ground_truth and args.test_size != 500 else "")
          + " --out my-run.h5")

    if args.ground_truth > 0:
        test_images = read_idx(os.path.join(args.data_dir, "t10k-images-idx3-ubyte.gz"))[: args.test_size]
        test_labels = read_idx(os.path.join(args.data_dir, "t10k-labels-idx1-ubyte.gz"))[: args.test_size]
        test_x = torch.from_numpy(test_images.astype(np.float32) / 255.0).unsqueeze(1)
        test_y = torch.from_numpy(test_labels.astype(np.int64))
        path = ground_truth(os.path.join(args.out, "init.pt"), x, y, test_x, test_y, args)
        print(f"then score against this PyTorch ground truth with:\n  attriscope-cli lds my-run.h5 "
              f"--ground-truth-from {path}")


if __name__ == "__main__":
    main()
