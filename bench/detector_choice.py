"""MediaPipe Pose full vs heavy on the same held-out rendered frames: accuracy against speed.

    .venv/bin/python -m bench.detector_choice [--views 0] [--max-frames 40]

The frames are rendered once (tools/render_dataset.py, the held-out clips' own seeds, so they
are the frames of data/renders/heldout/<clip>__v<k>.npz's views) and kept losslessly; each model
then runs over them in order as on a video, one graph, the pipeline's other settings. Scored
against exact truth: detection rate, 2D error (px, against the body model's landmarks projected
by the true camera), and the world landmarks' 12 limb points against the true joints (hip-aligned
MPJPE and PA-MPJPE, mm); time per frame of MediaPipe alone; and what each model's detections
give the pipeline: the solver (temporal ScoreHMR as ``bench.render_eval`` runs it, the render
camera's focal length and the body's true height given) scored as there — MPJPE, PA-MPJPE, accel,
root error and input-view 2D error of its 12 limb joints. Writes bench/results/detector_choice.json.
"""
import argparse
import glob
import json
import os
import tempfile
import time

import cv2
import numpy as np
import torch

from backend.camera import project
from backend.detect import PoseDetector
from backend.solver import load_models
from bench.render_eval import HIPS, LIMB_JOINTS, LIMB_LANDMARKS, combine, evaluate_file, per_frame_means
from scorehmr_research import metrics
from tools import fetch_heavy_pose
from tools.render_dataset import HELDOUT_CLIPS, Clip, Renderer, fetch_backgrounds, load_clips
from tools import render_sampling as sampling

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = {"full": 1, "heavy": 2}


def run_detector(complexity, frames):
    kp, world, found, seconds = [], [], [], 0.0
    with PoseDetector(model_complexity=complexity) as detector:
        for frame in frames:
            started = time.perf_counter()
            out = detector(frame)
            seconds += time.perf_counter() - started
            found.append(out is not None)
            kp.append(out[0] if out is not None else np.zeros((33, 3), np.float32))
            world.append(out[1] if out is not None else np.zeros((33, 3), np.float32))
    return np.stack(kp), np.stack(world), np.array(found), seconds / len(frames)


def score(arrays, kp, world, found, body):
    n = len(found)
    poses, trans = torch.as_tensor(arrays["poses"][:n]), torch.as_tensor(arrays["trans"][:n])
    betas = torch.as_tensor(arrays["betas"])[None].expand(n, -1)
    with torch.no_grad():
        lm = body.landmarks(poses, betas, trans)
    focal = torch.full((n,), float(arrays["focal_length"]))
    principal = torch.as_tensor(arrays["image_size"] / 2.0, dtype=torch.float32).expand(n, 2)
    truth_2d = project(lm, focal, principal)
    ok = torch.as_tensor(found)
    kp_t = torch.as_tensor(kp)
    true = torch.as_tensor(arrays["joints"][:n])[:, LIMB_JOINTS]
    pred = torch.as_tensor(world)[:, LIMB_LANDMARKS]
    pred = pred - pred[:, HIPS].mean(1, keepdim=True)
    true = true - true[:, HIPS].mean(1, keepdim=True)
    return {"frames": n, "detected": int(ok.sum()),
            "error_2d_px": metrics.reprojection_px(truth_2d[ok], kp_t[ok]),
            "world_mpjpe": float((pred[ok] - true[ok]).norm(dim=-1).mean() * 1000),
            "world_pa_mpjpe": metrics.pa_mpjpe(pred[ok], true[ok])}


def solved(arrays, kp, world, found, models):
    """The solver on these detections, scored against the view's truth (limbs12 frame sums)."""
    n = len(found)
    view = {k: arrays[k][:n] for k in ("poses", "trans", "joints")} | {
        "betas": arrays["betas"], "focal_length": arrays["focal_length"], "image_size": arrays["image_size"],
        "fps": arrays["fps"], "keypoints_2d": kp, "world_landmarks": world, "found": found}
    with torch.enable_grad():   # (main scores with gradients off; the guidance needs them)
        result, _, _ = evaluate_file(view, float(arrays["focal_length"]), models, None, ["scorehmr_temporal"],
                                     known_height=True)
    return result["scorehmr_temporal"]["limbs12"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clips", nargs="*", default=[c for c in HELDOUT_CLIPS if c != "mocap_climb_seq_4"])
    parser.add_argument("--views", type=int, nargs="*", default=[0])
    parser.add_argument("--max-frames", type=int, default=40)
    parser.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "detector_choice.json"))
    args = parser.parse_args(argv)
    torch.set_grad_enabled(False)
    fetch_heavy_pose.install()
    clips = {name: Clip(name, p, t) for name, (p, t) in load_clips(
        [os.path.join(ROOT, "data", "motion", "open_clips.npz")], with_trans=True, only=set(args.clips)).items()}
    renderer = Renderer("workbench", sampling.photo_backgrounds(fetch_backgrounds()))
    models = load_models()
    totals = {m: {"frames": 0, "detected": 0, "error_2d_px": 0.0, "world_mpjpe": 0.0, "world_pa_mpjpe": 0.0, "seconds": 0.0}
              for m in MODELS}
    solver_sums = {m: [] for m in MODELS}
    per_view = {}
    for name in sorted(clips):
        for view in args.views:
            with tempfile.TemporaryDirectory() as folder:
                arrays = renderer.render_view("heldout", clips[name], view, max_frames=args.max_frames,
                                              preview=folder, preview_every=1)
                frames = [cv2.imread(f) for f in sorted(glob.glob(os.path.join(folder, "*.png")))]
            per_view[f"{name}__v{view}"] = {}
            for model, complexity in MODELS.items():
                kp, world, found, seconds = run_detector(complexity, frames)
                s = score(arrays, kp, world, found, renderer.model) if found.any() else {"frames": len(found), "detected": 0}
                s["ms_per_frame"] = round(seconds * 1000, 1)
                if found.sum() >= 3:
                    sums = solved(arrays, kp, world, found, models)
                    solver_sums[model].append(sums)
                    s["solver"] = per_frame_means({"scorehmr_temporal": {"limbs12": sums}})["scorehmr_temporal"]["limbs12"]
                per_view[f"{name}__v{view}"][model] = s
                t = totals[model]
                t["frames"] += len(found)
                t["seconds"] += seconds * len(found)
                if found.any():
                    t["detected"] += s["detected"]
                    for k in ("error_2d_px", "world_mpjpe", "world_pa_mpjpe"):
                        t[k] += s[k] * s["detected"]
                print(f"{name} v{view} {model}: {s}", flush=True)
    summary = {m: {"detection_rate": round(t["detected"] / t["frames"], 3),
                   **{k: round(t[k] / max(t["detected"], 1), 1) for k in ("error_2d_px", "world_mpjpe", "world_pa_mpjpe")},
                   "ms_per_frame": round(1000 * t["seconds"] / t["frames"], 1)} for m, t in totals.items()}
    for m, rows in solver_sums.items():   # frame-weighted over the views, as render_eval combines its files
        summary[m]["solver"] = combine([{"scorehmr_temporal": {"limbs12": r}} for r in rows],
                                       "limbs12")["scorehmr_temporal"]
    report = {"made_by": "python -m bench.detector_choice " + " ".join(argv or []), "clips": sorted(clips),
              "views": args.views, "max_frames": args.max_frames, "models": summary, "per_view": per_view,
              "solver": "temporal ScoreHMR, true focal length and body height; limbs12 (see bench.render_eval)",
              "note": "ms_per_frame measured on a shared, loaded 2-core machine: compare the ratio, not the values"}
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump(report, fh, indent=1)
    print(f"{'model':<8}{'detected':>10}{'2D px':>8}{'world MPJPE':>13}{'world PA':>10}{'ms/frame':>10}"
          f"{'solved MPJPE':>14}{'PA':>7}{'accel':>7}{'root':>7}{'2D px':>7}")
    for m, s in summary.items():
        v = s["solver"]
        print(f"{m:<8}{s['detection_rate']:>10}{s['error_2d_px']:>8}{s['world_mpjpe']:>13}{s['world_pa_mpjpe']:>10}"
              f"{s['ms_per_frame']:>10}{v['mpjpe']:>14}{v['pa_mpjpe']:>7}{v['accel']:>7}{v['root']:>7}{v['reproj_px']:>7}")


if __name__ == "__main__":
    main()
