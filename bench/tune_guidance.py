"""Choose the guidance settings on *training* clips (never on the held-out ones the accuracy
table reports), observed through the calibrated noise model with fresh cameras.

    .venv/bin/python bench/tune_guidance.py [--method smplify] [--clips NAME ...] [--grid smooth_pose=60,400]

Prints one row per setting (of temporal ScoreHMR, or of the SMPLify baseline's shared loss
terms, so that the baseline is tuned as fairly) next to the initial estimate, and writes
bench/results/tune_<method>.json. Copy the winner into ScoreHMRConfig's defaults.
"""
import argparse
import itertools
import json
import os
import sys
from dataclasses import replace

import torch

from backend.body_model import BodyModel
from backend.checkpoints import default_checkpoint_path, load_prior
from backend.device import SOLVER_CPU_THREADS
from backend.scorehmr import ScoreHMRConfig
from bench.accuracy import load_heldout, run_methods
from scorehmr_research.observation_noise import NoiseModel
from scorehmr_research.smplify import SMPLifyConfig

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# training clips that look like the held-out mix: short fast DeepMimic motions and a long climb
DEFAULT_CLIPS = ["humanoid3d_run", "humanoid3d_dance_a", "walker_turn_left0", "humanoid3d_punch", "humanoid3d_jump",
                 "humanoid3d_cartwheel", "mocap_climb_seq_3"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", default=default_checkpoint_path())
    parser.add_argument("--clips", nargs="*", default=DEFAULT_CLIPS)
    parser.add_argument("--grid", nargs="*", default=["guidance_scale=1,10,100"],
                        help="FIELD=v1,v2,... over ScoreHMRConfig fields")
    parser.add_argument("--method", choices=["scorehmr_temporal", "smplify"], default="scorehmr_temporal")
    parser.add_argument("--seeds", type=int, nargs="+", default=[11, 12, 13], help="one random camera per clip and seed")
    parser.add_argument("--out", default=None, help="default bench/results/tune_<method>.json")
    args = parser.parse_args()
    torch.set_num_threads(SOLVER_CPU_THREADS)  # as the backend runs it (backend/device.py)
    trained = load_prior(args.checkpoint)
    overlap = set(args.clips) & set(trained.meta["heldout"])
    if overlap:
        sys.exit(f"refusing to tune on held-out clips: {sorted(overlap)}")
    clips = load_heldout(trained.meta, names=args.clips)
    body, noise = BodyModel.load(), NoiseModel.load()
    fields = [g.split("=")[0] for g in args.grid]
    values = [[type(getattr(ScoreHMRConfig(), f))(v) for v in g.split("=")[1].split(",")] for f, g in zip(fields, args.grid)]
    rows = []
    base, _, _ = run_methods(clips, trained, body, noise, ScoreHMRConfig(), ["init"], seeds=args.seeds, log=None)
    print(f"init: {base['init']}")
    for combo in itertools.product(*values):
        config = replace(ScoreHMRConfig(), **dict(zip(fields, combo)))
        res, frames, _ = run_methods(clips, trained, body, noise, config, [args.method], seeds=args.seeds, log=None,
                                  smplify_config=SMPLifyConfig(smooth_pose=None))  # the grid's weight
        rows.append({"settings": dict(zip(fields, combo)), **res[args.method]})
        print(f"{dict(zip(fields, combo))}: {res[args.method]}", flush=True)
    out = args.out or os.path.join(ROOT, "bench", "results", f"tune_{args.method}.json")
    with open(out, "w") as fh:
        json.dump({"method": args.method, "clips": args.clips, "frames": frames, "init": base["init"], "rows": rows},
                  fh, indent=2)


if __name__ == "__main__":
    main()
