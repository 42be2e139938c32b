#!/usr/bin/python3
"""Exports a PyTorch image classifier to TorchScript so that AttriScope can import it.

Run with Debian's PyTorch (python3-torch works with /usr/bin/python3 only):
    /usr/bin/python3 docs/examples/export_torchscript.py model.pt
then
    attriscope-cli import --torchscript model.pt --data fashion-mnist --out exp.h5 \
        --optimizer sgd --lr 0.05 --epochs 10 --batch-size 64     # the recipe, if you want ground truth

What AttriScope needs from the module:
  * forward(x) takes a float tensor N x C x H x W (the dataset's images scaled to [0, 1], then
    normalized with --mean/--std if you give them: use what the model was trained with) and
    returns logits N x K (no softmax).
  * Linear and Conv2d layers (in nn.Sequential or as attributes) get exact batched per-sample
    gradients; any other parameterised layer falls back to a slower per-sample loop.
  * Scripting (torch.jit.script) keeps the module structure; tracing works too for modules
    without data-dependent control flow.
Loading a TorchScript file runs its code: share and load only files you trust.
"""
import sys

import torch
from torch import nn


class Classifier(nn.Module):
    """A small MLP for 28x28 grey images and 10 classes; replace it with your own model."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(28 * 28, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(torch.flatten(x, 1))))


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "model.pt"
    torch.manual_seed(0)
    model = Classifier()
    # ... train the model on your data here ...
    model.eval()
    scripted = torch.jit.script(model)
    # A quick check that the exported module computes what the Python one does.
    x = torch.rand(4, 1, 28, 28)
    with torch.no_grad():
        assert torch.allclose(scripted(x), model(x))
    scripted.save(out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
