"""Accuracy on the held-out renders, through the real detector, against exact 3D truth.

    .venv/bin/python -m bench.render_eval [--renders data/renders/heldout] [--focal default|true]

Input: ``data/renders/heldout/*.npz`` (tools/render_dataset.py: held-out open motion rendered on
random bodies of the shipped model, MediaPipe Pose run on the frames as on a video). Every row
starts from the same stored detections:

- ``mediapipe_world``: MediaPipe's metric world landmarks placed by a least-squares root
  (backend.camera.solve_translation against the same 2D landmarks) — what MediaPipe add-ons show;
- ``mediapipe_world_smoothed``: the same, Gaussian-smoothed over time (sigma = 2 frames);
- ``init``, ``scorehmr_single``, ``scorehmr_temporal``: the solver exactly as the pipeline runs
  it after detection (backend.solver.solve_sequence, with the world landmarks and the detector's
  left/right swaps undone; ``init`` is its initial state, ``scorehmr_single`` the per-frame guidance);
- ``smplify``: the optimisation baseline from the same initial state and observation.

Joint sets: ``limbs12`` (shoulders, elbows, wrists, hips, knees, ankles: SMPL joints for truth and
the solved bodies, the matching MediaPipe landmarks for the MediaPipe rows) for every row, and
``smpl24`` (all 24 SMPL joints) for the rows that produce a body. Frames where MediaPipe found
nobody are left out of every row. MPJPE aligns the hip midpoint; PA-MPJPE aligns per frame by
a similarity; accel is over runs of >= 3 detected frames; ``root`` is the camera-frame error
of the hip midpoint (mm); ``reproj_px`` is the input-view 2D error: the solution's landmarks
projected into the image against the detections (mean over landmarks with visibility > 0.3).
The detector's own 2D error is its detections against the true body's landmarks, projected.

Focal length: ``default`` gives the solver what the pipeline assumes for a video of unknown
camera (DEFAULT_HORIZONTAL_FOV_DEG); ``true`` gives it the render camera's. ``--height true``
tells the solver rows the rendered body's height, as a user's ``--height`` would.
Writes bench/results/render_eval.json (``methods``: limbs12 figures per row, plus per joint
set, per clip and per file detail).
"""
import argparse
import glob
import json
import os
import time

import numpy as np
import torch

from backend.camera import project, solve_translation
from backend.checkpoints import default_checkpoint_path
from backend.pipeline import default_focal_length
from backend.scorehmr import ScoreHMRConfig, gaussian_smooth
from backend.sides import consistent_sides
from backend.solver import camera_tensors, initial_state, load_models, solve_sequence
from backend.geometry import rot6d_to_axis_angle
from scorehmr_research import metrics
from scorehmr_research.smplify import SMPLify, load_pose_gmm
from smplcore.skeleton import JOINT_INDEX, LANDMARK_INDEX

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIMBS = [f"{s}_{p}" for p in ("shoulder", "elbow", "wrist", "hip", "knee", "ankle") for s in ("left", "right")]
LIMB_JOINTS = [JOINT_INDEX[n] for n in LIMBS]
LIMB_LANDMARKS = [LANDMARK_INDEX[n] for n in LIMBS]
HIPS = [LIMBS.index("left_hip"), LIMBS.index("right_hip")]
METHODS = ("mediapipe_world", "mediapipe_world_smoothed", "init", "scorehmr_single", "scorehmr_temporal", "smplify")
SMOOTH_SIGMA = 2.0  # frames


def load_renders(folder):
    out = []
    for path in sorted(glob.glob(os.path.join(folder, "*.npz"))):
        with np.load(path, allow_pickle=False) as f:
            out.append({k: f[k] for k in f.files} | {"file": os.path.basename(path)})
    return out


def mediapipe_world_rows(d, focal):
    """Limb points (T, 12, 3) in the camera frame and all 33 landmarks, raw and smoothed."""
    kp = torch.as_tensor(d["keypoints_2d"])
    world = torch.as_tensor(d["world_landmarks"])
    n = len(kp)
    f, c = camera_tensors(n, focal, d["image_size"], "cpu")
    trans = solve_translation(world, kp, f, c).numpy()
    raw = d["world_landmarks"] + trans[:, None]
    smooth = gaussian_smooth(torch.as_tensor(raw), SMOOTH_SIGMA, d["found"]).numpy()
    return {"mediapipe_world": raw, "mediapipe_world_smoothed": smooth}


def solver_rows(d, focal, models, smplify, methods, height=None):
    """SMPL solutions (poses, trans, betas) of the solver rows."""
    fps = float(d["fps"])
    world = np.where(d["found"][:, None, None], d["world_landmarks"], 0.0).astype(np.float32)
    # the pipeline's step before solving (left/right swaps undone), once, for every solver row
    kp, world, _ = consistent_sides(d["keypoints_2d"], world, fps, d["found"])
    out, seconds = {}, {}
    n = len(kp)
    kp_t = torch.as_tensor(kp)
    f, c = camera_tensors(n, focal, d["image_size"], "cpu")
    with torch.no_grad():
        state = initial_state(models.trained, models.shipped, models.body, kp_t, f, c, world=world, height=height)
    to_aa = lambda x: rot6d_to_axis_angle(x.reshape(n, 24, 6)).reshape(n, 72)  # noqa: E731
    if "init" in methods:
        out["init"] = (to_aa(state.x), state.trans, state.betas)
    for method, temporal in (("scorehmr_single", False), ("scorehmr_temporal", True)):
        if method in methods:
            started = time.perf_counter()
            s = solve_sequence(kp, d["image_size"], focal, fps, models=models, temporal=temporal, world_landmarks=world,
                               height=height)
            seconds[method] = time.perf_counter() - started
            out[method] = (torch.as_tensor(s["poses"]), torch.as_tensor(s["trans"]), torch.as_tensor(s["betas"]))
    if "smplify" in methods:
        started = time.perf_counter()
        x, t = smplify.fit_sequence(state.x, state.trans, state.betas[None], state.obs, fps=fps)
        seconds["smplify"] = time.perf_counter() - started
        out["smplify"] = (to_aa(x.detach()), t.detach(), state.betas)
    return out, seconds


def _accel(pred, true, valid):
    """Acceleration error (as metrics.acceleration_error, on points already root-aligned) over
    runs of >= 3 valid frames: (sum of per-triple errors, count)."""
    valid = np.asarray(valid)
    total, count = 0.0, 0
    edges = np.flatnonzero(np.diff(np.concatenate([[0], valid.astype(int), [0]])))
    for a, b in zip(edges[::2], edges[1::2]):
        if b - a >= 3:
            p, t = pred[a:b], true[a:b]
            err = (p[2:] - 2 * p[1:-1] + p[:-2]) - (t[2:] - 2 * t[1:-1] + t[:-2])
            total += float(err.norm(dim=-1).mean(1).sum() * 1000)
            count += int(b - a - 2)
    return total, count


def scores(pred, true, valid, root_pred, root_true):
    """Frame sums of the metrics on valid frames (joints in metres, torch)."""
    p, t = pred[valid], true[valid]
    ma = float((((p - root_pred[valid, None]) - (t - root_true[valid, None])).norm(dim=-1).mean(1)).sum() * 1000)
    pa = float((metrics.procrustes_align(p, t) - t).norm(dim=-1).mean(1).sum() * 1000)
    acc, acc_n = _accel(pred - root_pred[:, None], true - root_true[:, None], valid)
    root = float((root_pred[valid] - root_true[valid]).norm(dim=-1).sum() * 1000)
    return {"mpjpe": ma, "pa_mpjpe": pa, "accel": acc, "root": root, "_frames": int(valid.sum()), "_accel_n": acc_n}


def evaluate_file(d, focal, models, smplify, methods, known_height=False):
    body = models.body
    valid = torch.as_tensor(d["found"])
    n = len(valid)
    true = torch.as_tensor(d["joints"], dtype=torch.float32)
    true_root = true[:, [JOINT_INDEX["left_hip"], JOINT_INDEX["right_hip"]]].mean(1)
    kp = torch.as_tensor(d["keypoints_2d"])
    f, c = camera_tensors(n, focal, d["image_size"], "cpu")
    result = {}
    # the detector's own 2D error against the truth it saw (the true camera, the body's landmarks)
    ft, ct = camera_tensors(n, float(d["focal_length"]), d["image_size"], "cpu")
    betas = torch.as_tensor(d["betas"])[None].expand(n, -1)
    true_lm = body.landmarks(torch.as_tensor(d["poses"]), betas, torch.as_tensor(d["trans"]))
    detector = metrics.reprojection_px(project(true_lm, ft, ct)[valid], kp[valid])
    rows = {m: v for m, v in mediapipe_world_rows(d, focal).items() if m in methods}
    for name, lm in rows.items():
        lm = torch.as_tensor(lm, dtype=torch.float32)
        limbs = lm[:, LIMB_LANDMARKS]
        s = scores(limbs, true[:, LIMB_JOINTS], valid, limbs[:, HIPS].mean(1), true_root)
        s["_reproj"] = metrics.reprojection_px(project(lm, f, c)[valid], kp[valid])
        result[name] = {"limbs12": s}
    height = float(body.stature(torch.as_tensor(d["betas"])[None])[0]) if known_height else None
    solved, seconds = solver_rows(d, focal, models, smplify, methods, height)
    for name, (poses, trans, b) in solved.items():
        bb = torch.as_tensor(b, dtype=torch.float32).reshape(1, -1).expand(n, -1)
        joints = body.joints(poses.float(), bb, trans.float())
        root = joints[:, [JOINT_INDEX["left_hip"], JOINT_INDEX["right_hip"]]].mean(1)
        lm = body.landmarks(poses.float(), bb, trans.float())
        reproj = metrics.reprojection_px(project(lm, f, c)[valid], kp[valid])
        result[name] = {"limbs12": scores(joints[:, LIMB_JOINTS], true[:, LIMB_JOINTS], valid, root, true_root),
                        "smpl24": scores(joints, true, valid, root, true_root)}
        result[name]["limbs12"]["_reproj"] = reproj
    return result, detector, seconds


def combine(per_file, joint_set):
    """Frame-weighted means over files: {method: {metric: value}}."""
    out = {}
    for method in METHODS:
        rows = [r[method][joint_set] for r in per_file if method in r and joint_set in r[method]]
        if not rows:
            continue
        frames = sum(r["_frames"] for r in rows)
        acc_n = sum(r["_accel_n"] for r in rows)
        out[method] = {"mpjpe": sum(r["mpjpe"] for r in rows) / frames, "pa_mpjpe": sum(r["pa_mpjpe"] for r in rows) / frames,
                       "accel": sum(r["accel"] for r in rows) / max(acc_n, 1), "root": sum(r["root"] for r in rows) / frames}
        if all("_reproj" in r for r in rows):
            out[method]["reproj_px"] = sum(r["_reproj"] * r["_frames"] for r in rows) / frames
        out[method] = {k: round(v, 1) for k, v in out[method].items()}
    return out


def per_frame_means(r):
    return {m: {js: {k: round(v / max(s["_accel_n"] if k == "accel" else s["_frames"], 1), 1) if not k.startswith("_") else v
                     for k, v in s.items()} | ({"reproj_px": round(s["_reproj"], 1)} if "_reproj" in s else {})
                for js, s in sets.items()} for m, sets in r.items()}


def print_table(methods, detector_px, title):
    print(title)
    cols = ("mpjpe", "pa_mpjpe", "accel", "root", "reproj_px")
    print(f"{'method':<26}" + "".join(f"{c:>11}" for c in cols))
    for m, v in methods.items():
        print(f"{m:<26}" + "".join(f"{v.get(c, '-'):>11}" for c in cols))
    if detector_px is not None:
        print(f"{'detector vs truth (2D)':<26}" + f"{'':>44}{detector_px:>11.1f}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--renders", default=os.path.join(ROOT, "data", "renders", "heldout"))
    parser.add_argument("--checkpoint", default=default_checkpoint_path())
    parser.add_argument("--focal", choices=("default", "true"), default="default")
    parser.add_argument("--height", choices=("estimated", "true"), default="estimated",
                        help="true: the solver rows are told the rendered body's height (a user's --height)")
    parser.add_argument("--methods", nargs="*", default=list(METHODS))
    parser.add_argument("--max-frames", type=int, help="only the first frames of each file (quick look)")
    parser.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "render_eval.json"))
    args = parser.parse_args(argv)
    torch.set_grad_enabled(False)
    renders = load_renders(args.renders)
    if args.max_frames:
        renders = [{k: v[:args.max_frames] if isinstance(v, np.ndarray) and v.ndim and len(v) == len(d["found"]) else v
                    for k, v in d.items()} for d in renders]
    if not renders:
        raise SystemExit(f"no renders in {args.renders}: make them with python -m tools.render_dataset")
    models = load_models(None, args.checkpoint, "cpu")
    smplify = SMPLify(models.body, load_pose_gmm(), None, losses=ScoreHMRConfig())
    per_file, detector, seconds = [], [], {}
    for d in renders:
        focal = float(d["focal_length"]) if args.focal == "true" else default_focal_length(int(d["image_size"][0]))
        with torch.enable_grad():  # SMPLify optimises
            r, det, sec = evaluate_file(d, focal, models, smplify, args.methods, args.height == "true")
        per_file.append(r)
        detector.append((det, int(d["found"].sum())))
        for k, v in sec.items():
            seconds[k] = seconds.get(k, 0.0) + v
        print(f"{d['file']}: {int(d['found'].sum())}/{len(d['found'])} frames detected, detector 2D error {det:.1f} px; "
              + ", ".join(f"{m} {v['limbs12']['_frames'] and v['limbs12']['pa_mpjpe'] / v['limbs12']['_frames']:.1f}"
                          for m, v in r.items()), flush=True)
    frames = sum(n for _, n in detector)
    detector_px = round(sum(e * n for e, n in detector) / frames, 1)
    limbs, smpl24 = combine(per_file, "limbs12"), combine(per_file, "smpl24")
    clips = sorted({str(d["clip"]) for d in renders})
    per_clip = {}
    for clip in clips:
        idx = [i for i, d in enumerate(renders) if str(d["clip"]) == clip]
        per_clip[clip] = {"files": len(idx), "limbs12": combine([per_file[i] for i in idx], "limbs12")}
    report = {
        "made_by": "python -m bench.render_eval" + (" --focal true" if args.focal == "true" else "")
                   + (" --height true" if args.height == "true" else "")
                   + (f" --max-frames {args.max_frames}" if args.max_frames else ""),
        "renders": os.path.relpath(args.renders, ROOT), "files": len(renders), "clips": clips,
        "frames_detected": frames, "frames_total": int(sum(len(d["found"]) for d in renders)),
        "focal": args.focal, "height": args.height, "joints": {"methods / limbs12": LIMBS, "smpl24": "all 24 SMPL joints"},
        "units": "mpjpe, pa_mpjpe, root: mm; accel: mm/frame^2; reproj_px: px (input-view 2D error)",
        "detector_2d_error_px": detector_px,
        "methods": limbs, "methods_smpl24": smpl24, "per_clip": per_clip,
        "per_file": {d["file"]: per_frame_means(r) for d, r in zip(renders, per_file)},
        "solver_frames_per_second": {k: round(frames / v, 1) for k, v in seconds.items()},
    }
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump(report, fh, indent=1)
    print(f"\n{len(renders)} held-out render files, {frames} detected frames, focal: {args.focal}")
    print_table(limbs, detector_px, "12 limb joints (MPJPE/PA-MPJPE/root mm, accel mm/frame^2, input-view 2D px)")
    print_table(smpl24, None, "\nall 24 SMPL joints")
    print(f"wrote {os.path.relpath(args.out, ROOT)}")


if __name__ == "__main__":
    main()
