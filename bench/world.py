"""World grounding: floor, gravity and camera height from the solved motion, and what standing
on the floor does to the motion (DESIGN §7), against the camera-frame baseline.

    .venv/bin/python bench/world.py [--clips heldout|train] [--seeds 0 1 2 3] [--renders DIR] [--height true]
                                    [--checkpoint CKPT]

Synthetic mode (default): each held-out clip is filmed by one static camera per seed, 0.5-2.5 m
above the floor, looking at the clip, turned by up to 6 deg about its view axis, through the
calibrated detector noise; the solver runs as the backend does (initial estimate, temporal
ScoreHMR; then the floor and a second pass standing on it, whose motion the floor is fitted to
again). ``--renders DIR``: the same on
rendered real-detector clips (data/renders/heldout/*.npz, with their true ``cam_to_world``).
As in the backend, the detector's left/right swaps are undone first (backend.sides), and on the
renders MediaPipe's world landmarks are guidance evidence.
``--height true`` tells the solver the body's true height, as a user's ``--height`` would (it
fixes the body's size, hence its distance and the camera height).

Figures (frame-weighted over clips and cameras), of the floor the result carries (its
``cam_to_world``): gravity direction error (deg), camera height error (mm), ankle height above the floor vs the truth's (mm), foot motion on the truth's planted
frames (mm/frame, and as a multiple of the truth's own), root (pelvis) error in the camera frame
(mm) for: the camera-frame baseline (one pass), the world pass with the floor fixing depth, and
the world pass without it (floor_depth 0). Writes bench/results/world.json.
"""
import argparse
import dataclasses
import glob
import json
import math
import os

import numpy as np
import torch

from backend import world
from backend.body_model import BodyModel
from backend.checkpoints import default_checkpoint_path, load_prior
from backend.device import solver_cpu_threads
from backend.geometry import rot6d_to_matrix
from backend.scorehmr import FEET, ScoreHMR, ScoreHMRConfig
from backend.sides import consistent_sides
from backend.solver import camera_tensors, ground, initial_state, landmarks_of
from bench.tune_guidance import parse_setting
from scorehmr_research import metrics
from scorehmr_research.observation_noise import NoiseModel
from scorehmr_research.synthetic import observe_sequence
from scorehmr_research.training_set import load_clips

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ANKLES = (7, 8)
VARIANTS = ("camera_frame", "world", "world_no_depth")


def synthetic_cases(trained, body, noise, clip_set, seeds, fps):
    """(name, truth) per clip and camera: keypoints, focal, image size, true camera-frame joints
    (T, 24, 3), true up (camera frame) and camera height."""
    meta = trained.meta
    names = set(meta["heldout"]) if clip_set == "heldout" else None
    clips = load_clips([os.path.join(ROOT, d) for d in meta["data"]], with_trans=True, only=names,
                       exclude=() if names else tuple(meta["heldout"]))
    for seed in seeds:
        g = torch.Generator().manual_seed(1000 + seed)
        for name, (poses, trans) in sorted(clips.items()):
            roll = float(torch.empty(()).uniform_(-6, 6, generator=g))
            seq = observe_sequence(poses, trans, body, noise, g, fps=fps, heights=(0.5, 2.5), roll_deg=roll)
            _, joints = body.forward_kinematics(seq["rotmats"], body.rest_joints(seq["betas"][None]))
            yield f"{name} seed {seed}", {
                "keypoints": seq["keypoints"], "focal": seq["focal"], "image_size": seq["image_size"],
                "joints": joints + seq["trans"][:, None], "up": seq["camera_rotation"][:, 1].double().numpy(),
                "height": float(seq["camera_position"][1]), "stature": float(body.stature(seq["betas"][None])[0])}


def render_cases(folder, body):
    """Rendered real-detector clips (the shared render format, see the module docstring)."""
    for path in sorted(glob.glob(os.path.join(folder, "*.npz"))):
        with np.load(path, allow_pickle=False) as d:
            m = d["cam_to_world"].astype(np.float64)
            kp = torch.as_tensor(d["keypoints_2d"], dtype=torch.float32)
            kp[..., 2] *= torch.as_tensor(d["found"], dtype=torch.float32)[:, None]
            yield os.path.basename(path), {
                "keypoints": kp, "focal": float(d["focal_length"]),
                "image_size": tuple(float(v) for v in d["image_size"]),
                "joints": torch.as_tensor(d["joints"], dtype=torch.float32), "up": m[2, :3], "height": float(m[2, 3]),
                "world": d["world_landmarks"] * d["found"][:, None, None],
                "fps": float(d["fps"]), "stature": float(body.stature(torch.as_tensor(d["betas"], dtype=torch.float32)[None])[0])}


def scores(body, x, trans, betas, truth, floor, fps):
    n = x.shape[0]
    _, joints = body.forward_kinematics(rot6d_to_matrix(x.reshape(n, 24, 6)), body.rest_joints(betas[None]))
    joints = (joints + trans[:, None]).double()
    true = truth["joints"].double()
    up = torch.as_tensor(truth["up"])
    contact = metrics.true_contacts(true[:, list(FEET)], up, fps)
    out = {"root_mm": float((joints[:, 0] - true[:, 0]).norm(dim=-1).mean() * 1000),
           "foot_motion": metrics.foot_sliding(joints[:, list(FEET)], contact),
           "true_foot_motion": metrics.foot_sliding(true[:, list(FEET)], contact)}
    if floor is not None:
        ours = torch.as_tensor(floor.height_of(joints[:, list(ANKLES)].numpy()))
        theirs = true[:, list(ANKLES)] @ up + truth["height"]
        out["ankle_height_mm"] = float((ours - theirs).abs().mean() * 1000)
    return out


def run_case(engine, trained, body, truth, fps, known_height=False):
    n = truth["keypoints"].shape[0]
    focal, principal = camera_tensors(n, truth["focal"], truth["image_size"], "cpu")
    keypoints, landmarks, _ = consistent_sides(truth["keypoints"].numpy(), truth.get("world"), fps=fps)
    with torch.no_grad():   # MediaPipe's world landmarks, where the clip has them, are evidence as in the backend
        state = initial_state(trained, body, body, torch.as_tensor(keypoints), focal, principal, world=landmarks,
                              config=engine.config, height=truth["stature"] if known_height else None)
    betas = state.betas
    x, trans = engine.refine_sequence(state.x, state.trans, betas[None], state.obs, fps=fps)
    row = {"frames": n, "camera_frame": scores(body, x, trans, betas, truth, None, fps)}
    try:
        floor = world.floor_of_motion(body, x, trans, betas, fps, state.observed.numpy(), landmarks_of(state))
    except world.FloorError as exc:
        row["no_floor"] = str(exc)
        return row
    for variant, depth in (("world", engine.config.floor_depth), ("world_no_depth", 0.0)):
        grounded = ScoreHMR(engine.diffusion, body, dataclasses.replace(engine.config, floor_depth=depth))
        wx, wt, shipped, note = ground(grounded, x, trans, state, fps)   # as the backend does it: the floor written
        if shipped is None:
            row["no_floor"] = note
            return row
        row[variant] = scores(body, wx, wt, betas, truth, shipped, fps)
        if variant == "world":
            floor = shipped
    row["gravity_deg"] = world.degrees_between(floor.up, truth["up"])
    row["camera_height_mm"] = abs(floor.height - truth["height"]) * 1000
    return row


def summarise(rows):
    """Frame-weighted means; gravity and camera height over the cases with a floor."""
    with_floor = [r for r in rows if "no_floor" not in r]
    frames = sum(r["frames"] for r in with_floor)
    mean = lambda get: round(sum(get(r) * r["frames"] for r in with_floor) / max(frames, 1), 2)  # noqa: E731
    out = {"cases": len(rows), "cases_with_floor": len(with_floor), "frames_with_floor": frames,
           "gravity_deg": mean(lambda r: r["gravity_deg"]),
           "gravity_deg_max": round(max((r["gravity_deg"] for r in with_floor), default=math.nan), 2),
           "camera_height_mm": mean(lambda r: r["camera_height_mm"])}
    everyone = sum(r["frames"] for r in rows)
    shipped = lambda r: r["camera_frame" if "no_floor" in r else "world"]["root_mm"]  # noqa: E731
    out["all_cases"] = {  # what the backend writes (the world pass where a floor was found) vs today
        "frames": everyone, "today_root_mm": round(sum(r["camera_frame"]["root_mm"] * r["frames"] for r in rows) / everyone, 2),
        "shipped_root_mm": round(sum(shipped(r) * r["frames"] for r in rows) / everyone, 2)}
    for variant in VARIANTS:
        v = {k: mean(lambda r, k=k: r[variant][k]) for k in ("root_mm", "foot_motion", "true_foot_motion")}
        if variant != "camera_frame":
            v["ankle_height_mm"] = mean(lambda r: r[variant]["ankle_height_mm"])
        v["foot_motion_ratio"] = round(v["foot_motion"] / max(v["true_foot_motion"], 1e-9), 2)
        out[variant] = v
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clips", choices=("heldout", "train"), default="heldout")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    parser.add_argument("--renders", default=None, help="folder of rendered clips (*.npz) instead of synthetic ones")
    parser.add_argument("--height", choices=("estimated", "true"), default="estimated",
                        help="true: the solver is told the body's true height (a user's --height)")
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--set", nargs="*", default=[], metavar="NAME=VALUE",
                        help="ScoreHMRConfig settings other than the defaults (e.g. ground_iterations=2)")
    parser.add_argument("--checkpoint", default=default_checkpoint_path(), help="prior checkpoint (default: the shipped one)")
    parser.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "world.json"))
    args = parser.parse_args()
    torch.set_num_threads(solver_cpu_threads())
    trained = load_prior(args.checkpoint)
    body = BodyModel.load()
    config = ScoreHMRConfig()
    for item in args.set:
        name, value = item.split("=", 1)
        config = dataclasses.replace(config, **{name: parse_setting(getattr(config, name), value)})
    engine = ScoreHMR(trained.diffusion, body, config)
    cases = render_cases(args.renders, body) if args.renders else \
        synthetic_cases(trained, body, NoiseModel.load(), args.clips, args.seeds, args.fps)
    rows = {}
    for name, truth in cases:
        rows[name] = run_case(engine, trained, body, truth, truth.get("fps", args.fps), args.height == "true")
        r = rows[name]
        print(f"{name}: " + (f"no floor ({r['no_floor']})" if "no_floor" in r else
              f"gravity {r['gravity_deg']:.2f} deg, camera height {r['camera_height_mm']:.0f} mm, "
              f"ankle height {r['world']['ankle_height_mm']:.0f} mm, root {r['camera_frame']['root_mm']:.0f} -> "
              f"{r['world']['root_mm']:.0f} mm (no depth {r['world_no_depth']['root_mm']:.0f}), foot motion "
              f"{r['camera_frame']['foot_motion']:.1f} -> {r['world']['foot_motion']:.1f} mm/frame "
              f"(truth {r['world']['true_foot_motion']:.1f})"), flush=True)
    summary = summarise(list(rows.values()))
    report = {"source": args.renders or f"synthetic {args.clips} clips", "seeds": None if args.renders else args.seeds,
              "height": args.height, "checkpoint": args.checkpoint,
              "settings": dict(vars(config)), "summary": summary, "cases": rows}
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump(report, fh, indent=2)
    print(json.dumps(summary, indent=2))
    print(f"wrote {os.path.relpath(args.out, ROOT)}")


if __name__ == "__main__":
    main()
