"""Choose the guidance settings on *training* clips (never on the held-out ones the accuracy
table reports), observed through the calibrated noise model with fresh cameras, or (--renders)
on rendered training views seen by the real detector (data/renders/train, never heldout).

    .venv/bin/python bench/tune_guidance.py [--method smplify] [--clips NAME ...] [--grid smooth_pose=60,400]
    .venv/bin/python bench/tune_guidance.py --renders [--grid world=0,30,100]

Prints one row per setting (of temporal ScoreHMR, or of the SMPLify baseline's shared loss
terms, so that the baseline is tuned as fairly) next to the initial estimate, and writes
bench/results/tune_<method>.json. Copy the winner into ScoreHMRConfig's defaults.
"""
import argparse
import glob
import itertools
import json
import os
import sys
from dataclasses import replace

import numpy as np
import torch

from backend.body_model import BodyModel
from backend.checkpoints import default_checkpoint_path, load_prior
from backend.device import solver_cpu_threads
from backend.geometry import rot6d_to_matrix
from backend.pipeline import default_focal_length
from backend.scorehmr import ScoreHMR, ScoreHMRConfig
from backend.sides import consistent_sides
from backend.solver import camera_tensors, initial_state
from bench.accuracy import load_heldout, run_methods
from scorehmr_research.observation_noise import NoiseModel
from scorehmr_research import metrics
from scorehmr_research.smplify import SMPLifyConfig
from scorehmr_research.world_noise import DEFAULT_PATH as WORLD_NOISE_PATH
from scorehmr_research.world_noise import WorldNoise
from smplcore.skeleton import JOINT_INDEX

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# training clips that look like the held-out mix: short fast DeepMimic motions and a long climb
DEFAULT_CLIPS = ["humanoid3d_run", "humanoid3d_dance_a", "walker_turn_left0", "humanoid3d_punch", "humanoid3d_jump",
                 "humanoid3d_cartwheel", "mocap_climb_seq_3"]


LIMB_JOINTS = [JOINT_INDEX[f"{s}_{p}"] for s in ("left", "right")
               for p in ("shoulder", "elbow", "wrist", "hip", "knee", "ankle")]   # what render_eval scores


def load_render(path, true_focal=False):
    """One rendered view (shared format, data/README.md) as solver inputs + truth; the focal
    length the pipeline assumes for a video of unknown camera unless ``true_focal``."""
    with np.load(path, allow_pickle=False) as z:
        found = z["found"].astype(bool)
        world = np.where(found[:, None, None], z["world_landmarks"], 0).astype(np.float32)
        # as the pipeline does before solving: the detector's left/right swaps undone
        kp, world, _ = consistent_sides(np.where(found[:, None, None], z["keypoints_2d"], 0), world, float(z["fps"]), found)
        kp = torch.as_tensor(kp, dtype=torch.float32)
        size = tuple(int(v) for v in z["image_size"])
        focal = float(z["focal_length"]) if true_focal else default_focal_length(size[0])
        return {"name": os.path.basename(path), "kp": kp, "world": world, "focal": focal,
                "image_size": size, "fps": float(z["fps"]),
                "joints": torch.as_tensor(z["joints"], dtype=torch.float32)}


def run_renders(views, trained, body, config, temporal=True):
    """Frame-weighted PA-MPJPE / MPJPE of the 12 limb joints, accel, root error, over rendered views."""
    engine = ScoreHMR(trained.diffusion, body, config)
    sums, frames = {}, 0
    for view in views:
        n = view["kp"].shape[0]
        focal, principal = camera_tensors(n, view["focal"], view["image_size"], "cpu")
        with torch.no_grad():
            state = initial_state(trained, body, body, view["kp"], focal, principal, world=view["world"], config=config)
        x, trans = engine.refine_sequence(state.x, state.trans, state.betas[None], state.obs, fps=view["fps"],
                                          temporal=temporal)
        rot = rot6d_to_matrix(x.reshape(n, 24, 6))
        joints = body.forward_kinematics(rot, body.rest_joints(state.betas[None]))[1] + trans[:, None]
        true = view["joints"]
        seen = view["kp"][..., 2].sum(-1) > 0
        hips = [JOINT_INDEX["left_hip"], JOINT_INDEX["right_hip"]]
        scores = {"pa_mpjpe": metrics.pa_mpjpe(joints[seen][:, LIMB_JOINTS], true[seen][:, LIMB_JOINTS]),
                  "mpjpe": metrics.mpjpe(joints[seen], true[seen]), "accel": metrics.acceleration_error(joints, true),
                  "root": float((joints[seen][:, hips].mean(1) - true[seen][:, hips].mean(1)).norm(dim=-1).mean() * 1000)}
        for k, v in scores.items():
            sums[k] = sums.get(k, 0.0) + v * n
        frames += n
    return {k: round(v / frames, 2) for k, v in sums.items()}, frames


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", default=default_checkpoint_path())
    parser.add_argument("--clips", nargs="*", default=DEFAULT_CLIPS)
    parser.add_argument("--grid", nargs="*", default=["guidance_scale=1,10,100"],
                        help="FIELD=v1,v2,... over ScoreHMRConfig fields")
    parser.add_argument("--method", choices=["scorehmr_temporal", "smplify"], default="scorehmr_temporal")
    parser.add_argument("--seeds", type=int, nargs="+", default=[11, 12, 13], help="one random camera per clip and seed")
    parser.add_argument("--renders", nargs="*", default=None,
                        help="tune on the rendered training views in these folders instead (none given: data/renders/train)")
    parser.add_argument("--true-focal", action="store_true", help="with --renders: give the solver the render camera's "
                        "focal length (default: the pipeline's assumption, as bench/render_eval.py)")
    parser.add_argument("--out", default=None, help="default bench/results/tune_<method>[_renders].json")
    args = parser.parse_args()
    torch.set_num_threads(solver_cpu_threads())  # as the backend runs it (backend/device.py)
    trained = load_prior(args.checkpoint)
    if args.renders is not None:
        return tune_on_renders(args, trained, args.renders or [os.path.join(ROOT, "data", "renders", "train")])
    overlap = set(args.clips) & set(trained.meta["heldout"])
    if overlap:
        sys.exit(f"refusing to tune on held-out clips: {sorted(overlap)}")
    clips = load_heldout(trained.meta, names=args.clips)
    body, noise = BodyModel.load(), NoiseModel.load()
    world_noise = WorldNoise.load() if os.path.isfile(WORLD_NOISE_PATH) else None
    fields = [g.split("=")[0] for g in args.grid]
    values = [[parse_setting(getattr(ScoreHMRConfig(), f), v) for v in g.split("=")[1].split(",")] for f, g in zip(fields, args.grid)]
    rows = []
    base, _, _ = run_methods(clips, trained, body, noise, ScoreHMRConfig(), ["init"], seeds=args.seeds, log=None,
                             world_noise=world_noise)
    print(f"init: {base['init']}")
    for combo in itertools.product(*values):
        config = replace(ScoreHMRConfig(), **dict(zip(fields, combo)))
        res, frames, _ = run_methods(clips, trained, body, noise, config, [args.method], seeds=args.seeds, log=None,
                                     smplify_config=SMPLifyConfig(smooth_pose=None),  # the grid's weight
                                     world_noise=world_noise)
        rows.append({"settings": dict(zip(fields, combo)), **res[args.method]})
        print(f"{dict(zip(fields, combo))}: {res[args.method]}", flush=True)
    out = args.out or os.path.join(ROOT, "bench", "results", f"tune_{args.method}.json")
    with open(out, "w") as fh:
        json.dump({"method": args.method, "clips": args.clips, "frames": frames, "init": base["init"], "rows": rows},
                  fh, indent=2)


def tune_on_renders(args, trained, folders):
    if any("heldout" in os.path.abspath(f).split(os.sep) for f in folders):
        sys.exit("refusing to tune on held-out renders")
    views = [load_render(p, args.true_focal) for f in folders for p in sorted(glob.glob(os.path.join(f, "*.npz")))]
    if not views:
        sys.exit(f"no rendered views in {folders}")
    body = BodyModel.load()
    fields = [g.split("=")[0] for g in args.grid]
    values = [[parse_setting(getattr(ScoreHMRConfig(), f), v) for v in g.split("=")[1].split(",")]
              for f, g in zip(fields, args.grid)]
    base, frames = run_renders(views, trained, body, replace(ScoreHMRConfig(), iterations=0))
    print(f"{len(views)} views, {frames} frames; init: {base}", flush=True)
    rows = []
    for combo in itertools.product(*values):
        settings = dict(zip(fields, combo))
        init, _ = run_renders(views, trained, body, replace(ScoreHMRConfig(), **settings, iterations=0))
        res, _ = run_renders(views, trained, body, replace(ScoreHMRConfig(), **settings))
        rows.append({"settings": settings, **res, "init": init})
        print(f"{settings}: {res}  (its init: {init})", flush=True)
    out = args.out or os.path.join(ROOT, "bench", "results", "tune_scorehmr_temporal_renders.json")
    with open(out, "w") as fh:
        json.dump({"method": "scorehmr_temporal", "renders": sorted(v["name"] for v in views), "frames": frames,
                   "init": base, "rows": rows}, fh, indent=2)


def parse_setting(default, text):
    """A ScoreHMRConfig value from the command line, typed as the field's default."""
    return text.lower() in ("1", "true", "yes") if isinstance(default, bool) else type(default)(text)


if __name__ == "__main__":
    main()
