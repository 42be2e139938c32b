#!/usr/bin/python3
"""The LDS of the unrolled scores with the recorded run's steps (alpha = 1, what the attribution
method `unrolled` computes) and with a half-data model's (alpha = 1/2, what the rule path-match
matches, and the LDS's own subset size), on a study folder's ground truth.

usage: unrolled_alpha.py CHECKPOINTED.h5 STUDY_DIR K[,K...]
(CHECKPOINTED.h5: the study's model trained again with checkpoints and featurized with TracIn,
e.g. the study's own DIR/<model>-<recipe>-path.h5.) Needs numpy and h5py; /usr/bin/python3.
"""
import os
import sys

import h5py

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from curvature_conversions import lds_scorer  # noqa: E402
from path_unrolled import CheckpointedRun  # noqa: E402


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    run = CheckpointedRun(sys.argv[1])
    name = os.path.basename(sys.argv[1])
    study = h5py.File(os.path.join(sys.argv[2], name.replace("-path.h5", ".h5")), "r")
    lds = lds_scorer(study)
    print("| run | k | unrolled LDS, alpha = 1 | alpha = 1/2 |")
    print("|---|---|---|---|")
    for k in (int(x) for x in sys.argv[3].split(",")):
        print("| %s | %d | %.4f | %.4f |" % (name, k, lds(run.unrolled(k, False, 1.0)), lds(run.unrolled(k, False, 0.5))))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
