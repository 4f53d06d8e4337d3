"""How often the detector's left/right labels are swapped, before and after backend.sides.

    .venv/bin/python -m bench.sides [--renders data/renders/heldout] [--grid MOTION_SCALE=0.1,0.15 SWAP_COST=0.5,1]

On rendered views with exact truth, each (frame, landmark group) of backend.sides.SWAP_GROUPS
is labelled by the truth: "swapped" when the detections lie clearly closer (by more than
CLEAR_PX and by half) to the true body's landmarks with left and right exchanged. A group-frame
counts as wrong when its labels (as detected, or after consistent_sides) disagree with that.
Choose settings with ``--renders data/renders/train`` only; report data/renders/heldout.
Writes bench/results/sides.json (figures of the shipped settings, per split folder).
"""
import argparse
import glob
import itertools
import json
import os

import numpy as np
import torch

from backend import sides
from backend.body_model import BodyModel
from backend.camera import project
from backend.solver import camera_tensors
from smplcore.skeleton import LANDMARK_INDEX, LANDMARK_MIRROR

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLEAR_PX = 10.0


def truth_swapped(d, body):
    """(T, G) truth: the detector swapped the group; (T, G) whether that is clear either way."""
    n = len(d["found"])
    focal, principal = camera_tensors(n, float(d["focal_length"]), d["image_size"], "cpu")
    with torch.no_grad():
        true = body.landmarks(torch.as_tensor(d["poses"]).float(), torch.as_tensor(d["betas"]).float()[None].expand(n, -1),
                              torch.as_tensor(d["trans"]).float())
        true = project(true, focal, principal).numpy()
    swapped = np.zeros((n, len(sides.SWAP_GROUPS)), bool)
    clear = np.zeros_like(swapped)
    for g, group in enumerate(sides.SWAP_GROUPS):
        left = [LANDMARK_INDEX[name] for name in group]
        both = left + [LANDMARK_MIRROR[i] for i in left]
        mirrored = [LANDMARK_MIRROR[i] for i in both]
        kp = d["keypoints_2d"]
        as_is = np.linalg.norm(kp[:, both, :2] - true[:, both], axis=-1).mean(1)
        exchanged = np.linalg.norm(kp[:, mirrored, :2] - true[:, both], axis=-1).mean(1)
        swapped[:, g] = exchanged < as_is
        clear[:, g] = d["found"] & (np.abs(as_is - exchanged) > np.maximum(CLEAR_PX, 0.5 * np.minimum(as_is, exchanged)))
    return swapped, clear


def evaluate(files, body):
    """Wrong group-frames (clear ones) as detected and after the fix, summed over files."""
    wrong_before = wrong_after = total = fixed_frames = 0
    for d, (truth, clear) in files:
        _, _, flipped = sides.consistent_sides(d["keypoints_2d"], None, float(d["fps"]), d["found"])
        wrong_before += int((truth & clear).sum())
        wrong_after += int(((truth ^ flipped) & clear).sum())
        total += int(clear.sum())
        fixed_frames += int(flipped.any(1).sum())
    return {"group_frames": total, "wrong_as_detected": wrong_before, "wrong_after": wrong_after,
            "wrong_as_detected_pct": round(100 * wrong_before / max(total, 1), 2),
            "wrong_after_pct": round(100 * wrong_after / max(total, 1), 2), "frames_changed": fixed_frames}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--renders", default=os.path.join(ROOT, "data", "renders", "heldout"))
    parser.add_argument("--grid", nargs="*", default=[], help="NAME=v1,v2 over backend.sides' settings")
    parser.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "sides.json"))
    args = parser.parse_args(argv)
    body = BodyModel.load()
    files = []
    for path in sorted(glob.glob(os.path.join(args.renders, "*.npz"))):
        with np.load(path, allow_pickle=False) as f:
            d = {k: f[k] for k in f.files}
        files.append((d, truth_swapped(d, body)))
    grid = [(name, [float(v) for v in values.split(",")]) for name, values in (g.split("=") for g in args.grid)]
    shipped = {name: getattr(sides, name) for name, _ in grid}
    for setting in itertools.product(*[values for _, values in grid]):
        for (name, _), value in zip(grid, setting):
            setattr(sides, name, value)
        print(dict(zip([name for name, _ in grid], setting)), evaluate(files, body))
    for name, value in shipped.items():
        setattr(sides, name, value)
    result = evaluate(files, body)
    print(f"{args.renders}: {len(files)} files, shipped settings:", result)
    if not grid:
        results = {}
        if os.path.exists(args.out):
            with open(args.out) as f:
                results = json.load(f)
        results[os.path.relpath(os.path.abspath(args.renders), ROOT)] = result | {
            "settings": {"MOTION_SCALE": sides.MOTION_SCALE, "SWAP_COST": sides.SWAP_COST},
            "made_by": f"python -m bench.sides --renders {os.path.relpath(os.path.abspath(args.renders), ROOT)}"}
        os.makedirs(os.path.dirname(args.out), exist_ok=True)
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
