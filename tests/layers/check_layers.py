#!/usr/bin/env python3
"""Checks the layering of the sources: every #include "..." of core/, ui/ and app/ goes down the
layers, never up, and never into another stage's private/ folder.

Layers of core/, lowest first (docs/architecture.md): a file may include its own layer and those
below it. store/h5_file and store/atomic_write (the HDF5 wrapper every reader and writer uses) are
a layer of their own below data; the rest of store/ (the experiment's records) sits above features.
Above core: ui/ may include core/, app/ may include ui/ and core/; core/ never includes ui/ or app/.

Folders:
  X/private/   the stage X's own: included only from core/X/.
  X/internal/  Torch-facing headers shared between core stages: included only from core/ (and the
               tests), never from ui/ or app/.

Usage: check_layers.py [REPO_ROOT]. Prints every violation as FILE:LINE: reason; exit 1 if any.
"""
import pathlib
import re
import sys

CORE_LAYERS = [
    ("common", ["core/common/"]),
    ("jobs", ["core/jobs/"]),
    ("hdf5", ["core/store/h5_file.", "core/store/atomic_write."]),
    ("data", ["core/data/"]),
    ("model", ["core/model/"]),
    ("features", ["core/features/"]),
    ("store", ["core/store/"]),
    ("attribution", ["core/attribution/"]),
    ("eval", ["core/eval/"]),
    ("tuning", ["core/tuning/"]),
    ("workflows", ["core/workflows/"]),
]
CORE_STAGES = {p.split("/")[1] for _, ps in CORE_LAYERS for p in ps}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def core_layer(path):
    """Index of the layer a path under core/ belongs to (None outside core/)."""
    for index, (_, prefixes) in enumerate(CORE_LAYERS):
        if any(path.startswith(p) for p in prefixes):
            return index
    return None


def resolve(include, including):
    """The repository path an include names, or None for a system or unknown header."""
    first = include.split("/")[0]
    if first in CORE_STAGES:
        return "core/" + include
    if first in ("ui", "app"):
        return include
    sibling = (pathlib.PurePosixPath(including).parent / include).as_posix()
    return sibling


def violations(root):
    out = []
    files = sorted(p for d in ("core", "ui", "app") for p in (root / d).rglob("*")
                   if p.suffix in (".h", ".cpp"))
    if not files:
        out.append(f"{root}: no sources under core/, ui/ or app/")
    for file in files:
        rel = file.relative_to(root).as_posix()
        top = rel.split("/")[0]
        for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
            if top == "core" and re.match(r"^\s*#\s*include\s*<Q", line):
                out.append(f"{rel}:{number}: core/ includes Qt ({line.strip()})")
            m = INCLUDE.match(line)
            if not m:
                continue
            target = resolve(m.group(1), rel)
            where = f"{rel}:{number}: "
            ttop = target.split("/")[0]
            if top == "core" and ttop in ("ui", "app"):
                out.append(where + f"core/ includes {ttop}/ ({m.group(1)})")
            if top == "ui" and ttop == "app":
                out.append(where + f"ui/ includes app/ ({m.group(1)})")
            parts = target.split("/")
            if ttop == "core" and len(parts) > 3 and parts[2] == "private" and not rel.startswith(
                    "core/" + parts[1] + "/"):
                out.append(where + f"{m.group(1)} is private to core/{parts[1]}/")
            if ttop == "core" and len(parts) > 3 and parts[2] == "internal" and top != "core":
                out.append(where + f"{m.group(1)} is internal to core/ (it includes Torch)")
            if top == "core" and ttop == "core":
                here, there = core_layer(rel), core_layer(target)
                if here is not None and there is not None and there > here:
                    out.append(where + f"{CORE_LAYERS[here][0]} includes {m.group(1)}, "
                                       f"of the layer above it ({CORE_LAYERS[there][0]})")
    return out


def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).resolve().parents[2])
    found = violations(root)
    for v in found:
        print(v)
    print(f"check_layers: {len(found)} violation(s)" if found else "check_layers: every include goes down the layers")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
