#!/usr/bin/python3
"""The PyTorch reference for `attri_bench projection`: projected per-sample gradients the way a
PyTorch user would write them (functorch vmap(grad) per batch, one dense random matrix P made
once, g @ P).

attri_bench writes the model and the images into DIR and runs this script on them:

    /usr/bin/python3 tests/bench/reference_featurize.py DIR --configs gaussian:1024,rademacher:4096

DIR holds manifest.txt ("arch mlp|cnn", "input C H W", "classes N", "count N", then one
"param NAME D0 D1 ..." line per parameter), images.f32, labels.i64 and NAME.f32 per parameter,
all raw little-endian arrays. For every config the script prints one line

    reference KIND K total_s generate_s gradients_s project_s sqnorm_mean

(generate: making P; gradients: vmap(grad) and flattening; project: g @ P; sqnorm_mean: mean
squared norm of the first 512 per-sample gradients, which the caller compares with its own).
"""

import argparse
import os
import time

import numpy as np
import torch
from functorch import grad, make_functional, vmap


class Mlp(torch.nn.Module):
    def __init__(self, inputs, classes):
        super().__init__()
        self.fc1 = torch.nn.Linear(inputs, 128)
        self.fc2 = torch.nn.Linear(128, 64)
        self.fc3 = torch.nn.Linear(64, classes)

    def forward(self, x):
        x = x.flatten(1)
        return self.fc3(torch.relu(self.fc2(torch.relu(self.fc1(x)))))


class Cnn(torch.nn.Module):
    def __init__(self, channels, height, width, classes):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(channels, 16, 3, padding=1)
        self.conv2 = torch.nn.Conv2d(16, 32, 3, padding=1)
        self.fc1 = torch.nn.Linear(32 * (height // 4) * (width // 4), 64)
        self.fc2 = torch.nn.Linear(64, classes)

    def forward(self, x):
        x = torch.max_pool2d(torch.relu(self.conv1(x)), 2)
        x = torch.max_pool2d(torch.relu(self.conv2(x)), 2)
        return self.fc2(torch.relu(self.fc1(x.flatten(1))))


def load(directory):
    manifest = {}
    params = []
    with open(os.path.join(directory, "manifest.txt")) as f:
        for line in f:
            words = line.split()
            if words[0] == "param":
                params.append((words[1], [int(d) for d in words[2:]]))
            else:
                manifest[words[0]] = words[1:]
    c, h, w = (int(v) for v in manifest["input"])
    classes = int(manifest["classes"][0])
    count = int(manifest["count"][0])
    arch = manifest["arch"][0]
    model = Mlp(c * h * w, classes) if arch == "mlp" else Cnn(c, h, w, classes)
    state = {}
    for name, shape in params:
        values = np.fromfile(os.path.join(directory, name + ".f32"), dtype=np.float32)
        state[name] = torch.from_numpy(values.reshape(shape))
    model.load_state_dict(state)
    model.eval()
    images = np.fromfile(os.path.join(directory, "images.f32"), dtype=np.float32).reshape(count, c, h, w)
    labels = np.fromfile(os.path.join(directory, "labels.i64"), dtype=np.int64)
    return model, torch.from_numpy(images), torch.from_numpy(labels)


def featurize(model, images, labels, kind, k, batch):
    fmodel, params = make_functional(model)
    p = sum(t.numel() for t in params)

    def loss(params, x, y):
        logits = fmodel(params, x.unsqueeze(0))
        return torch.nn.functional.cross_entropy(logits, y.unsqueeze(0))

    per_sample = vmap(grad(loss), in_dims=(None, 0, 0))
    generator = torch.Generator().manual_seed(0)
    start = time.perf_counter()
    if kind == "gaussian":
        P = torch.randn(p, k, generator=generator)
    else:
        P = torch.randint(0, 2, (p, k), generator=generator).float().mul_(2).sub_(1)
    generate = time.perf_counter() - start
    gradients = project = 0.0
    features = torch.empty(images.shape[0], k)
    sqnorm = 0.0
    with torch.no_grad():
        for b0 in range(0, images.shape[0], batch):
            x, y = images[b0 : b0 + batch], labels[b0 : b0 + batch]
            t0 = time.perf_counter()
            g = torch.cat([t.flatten(1) for t in per_sample(params, x, y)], 1)
            t1 = time.perf_counter()
            features[b0 : b0 + batch] = g @ P
            t2 = time.perf_counter()
            gradients += t1 - t0
            project += t2 - t1
            if b0 < 512:
                sqnorm += g[: 512 - b0].square().sum().item()
    total = time.perf_counter() - start
    return total, generate, gradients, project, sqnorm / min(512, images.shape[0])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("directory")
    parser.add_argument("--configs", default="gaussian:1024", help="comma-separated KIND:K (gaussian or rademacher)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=250)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model, images, labels = load(args.directory)
    for config in args.configs.split(","):
        kind, k = config.split(":")
        result = featurize(model, images, labels, kind, int(k), args.batch)
        print("reference %s %s %.4f %.4f %.4f %.4f %.6g" % ((kind, k) + result), flush=True)


if __name__ == "__main__":
    main()
