"""Multi-view ScoreHMR on real footage: the Pose2Sim 4-view demo (4 calibrated, synchronised views).

    .venv/bin/python bench/multiview.py [--checkpoint FILE] [--stride 1] [--weight W] [--sweep W ...]

Default: all 100 frames of the 60 fps footage (about 3 minutes on 2 idle cores with the default
sweep); ``--stride 2`` gives 50 frames at 30 fps, the prior's training frame rate, in about
25 s (one window per view instead of two overlapping ones), with the same conclusions.

Source and calibration: ``tools/calibrate_noise.py`` (the ``pose2sim`` wheel from PyPI, fetched
into ``.cache/``; MediaPipe detections of every view, cached there too; the Qualisys calibration
converted to OpenCV cameras, principal points refined by the mean residual of each view).
Every view's detections are undistorted to pinhole pixels (the lens distortion is tiny) and
given to the solver with that view's calibrated focal length and principal point.

Methods, all on the same detections:
  init        each view alone: the per-frame initial estimate (``solver.initial_state``)
  single_view each view alone: temporal ScoreHMR (``views=1``, multi-view weight 0)
  multiview   the views together: temporal ScoreHMR (``views=V``, multi-view weight W > 0),
              betas shared by the views

Measures (means; pairs are all pairs of views, i.e. of the per-view estimates of one method):
  joint_deg    cross-view disagreement of the body pose: the angle between the same body joint's
               local rotation (23 body joints) in two views' estimates, degrees
  pose_mm      the same as a position error: root-relative body joints (global orientation
               removed, one common shape) of two views, mm
  root_deg     disagreement of the global orientation once mapped into the world through the
               calibrated extrinsics (free per view in the multi-view term), degrees
  pelvis_mm    distance between two views' pelvis positions in the world (depth ambiguity), mm
  ref_mm / ref_pa_mm / ref_abs_mm
               the 33 body-model landmarks in the world against the MediaPipe landmarks
               triangulated from all views (``calibrate_noise.triangulate_robust``, >= 3 agreeing
               views): mid-hip aligned, Procrustes aligned, and without alignment (translation
               and depth included), mm
  own_px       reprojection error into the view(s) the estimate was made from, px
  heldout_px   reprojection error into a view NOT used: for each held-out view k, the estimate
               from each other view alone (init, single_view) or from the other V-1 views together
               (multiview, rerun without k) is mapped through the extrinsics into k and projected
               with k's calibrated camera (distortion included), against k's detections, px
  heldout_clean_px
               the same, counting only k's detections that agree with the other views (inliers of
               the >= 3-view triangulation): MediaPipe's own failures in view k (cam02 swaps left
               and right for about a third of the clip) are left out
Reprojection errors count landmarks with visibility > 0.5 only. The reference is made of the
same detections (it shares their systematic errors), so ref_* rank methods, they are no truth.

Writes bench/results/multiview.json and prints the table.
"""
import argparse
import itertools
import json
import os
import time

import numpy as np
import torch

from backend.body_model import BodyModel
from backend.checkpoints import default_checkpoint_path, load_prior
from backend.geometry import geodesic_angle, rot6d_to_matrix
from backend.scorehmr import ScoreHMR, ScoreHMRConfig
from backend.solver import initial_state
from scorehmr_research import metrics
from smplcore.image import person_size
from tools import calibrate_noise as cn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

DEFAULT_WEIGHT = 50.0
DEFAULT_SWEEP = (0, 30, 50, 100, 300, 1000, 3000, 10000)
CONFIDENT = 0.5           # landmarks counted in reprojection errors (MediaPipe's own threshold)
METHODS = ("init", "single_view", "multiview")


# --- data ------------------------------------------------------------------------------------
def prepare(cache=cn.CACHE, stride=1):
    """Cameras, detections and the triangulated reference of the demo, every ``stride``-th frame.

    Returns a dict: cameras (list of cn.Camera, principal points refined), keypoints (V, T, 33, 3)
    raw detections (distorted pixels, visibility; zero where no person was found), pinhole
    (V, T, 33, 3) undistorted to a pinhole camera of focal ``focal[v]``, focal (V,), principal
    (V, 2), world (V, T, 33, 3) MediaPipe's world landmarks of each view, reference (T, 33, 3)
    world points, referenced (T, 33) bool, fps."""
    os.makedirs(cache, exist_ok=True)
    videos, calibration = cn.fetch_demo(cache)
    cameras = cn.read_qca(calibration)
    keypoints, found, fps, _, world = cn.detect_views(videos, cache)
    world = np.where(found[..., None, None], world, 0.0)
    keypoints = np.where(found[..., None, None], keypoints, 0.0)
    uv = keypoints[..., :2].transpose(1, 2, 0, 3)                          # (T, 33, V, 2)
    weight = keypoints[..., 2].transpose(1, 2, 0) * found.T[:, None]
    size = np.where(found, person_size(keypoints[..., :2]), 1.0).T[:, None]
    cameras = cn.refine_principal_points(cameras, uv, weight, size)
    reference, inliers = cn.triangulate_robust(cameras, uv, weight, size)
    referenced = inliers.sum(-1) >= 3

    frames = slice(None, None, stride)
    keypoints, reference, referenced = keypoints[:, frames], reference[frames], referenced[frames]
    world = world[:, frames]
    # a detection agrees with the others where it is an inlier of a >= 3-view triangulation
    agrees = inliers[frames].transpose(2, 0, 1) & referenced[None]           # (V, T, 33)
    focal = np.array([np.diag(c.K)[:2].mean() for c in cameras])
    principal = np.stack([c.K[:2, 2] for c in cameras])
    pinhole = keypoints.copy()
    for v, camera in enumerate(cameras):
        flat = cn.undistort_pixels(camera, keypoints[v, ..., :2])
        # one focal length for both axes (fx, fy differ by < 0.01 %): rescale about the centre
        scale = focal[v] / np.diag(camera.K)[:2]
        pinhole[v, ..., :2] = principal[v] + (flat - principal[v]) * scale
    return {"cameras": cameras, "keypoints": keypoints, "pinhole": pinhole, "focal": focal,
            "principal": principal, "world": world, "reference": reference, "referenced": referenced, "agrees": agrees,
            "fps": fps / stride, "videos": [os.path.basename(v) for v in videos]}


def tensors(data, views):
    """Observation tensors of ``views`` stacked view-major: kp (V*T, 33, 3), focal, principal."""
    t = data["pinhole"].shape[1]
    kp = torch.as_tensor(np.concatenate([data["pinhole"][v] for v in views]), dtype=torch.float32)
    focal = torch.as_tensor(np.repeat(data["focal"][list(views)], t), dtype=torch.float32)
    principal = torch.as_tensor(np.repeat(data["principal"][list(views)], t, axis=0), dtype=torch.float32)
    return kp, focal, principal


# --- geometry --------------------------------------------------------------------------------
def to_world(points, camera):
    """Camera-frame points (..., 3) of ``camera`` -> world (numpy or torch)."""
    R = torch.as_tensor(camera.R, dtype=points.dtype)
    t = torch.as_tensor(camera.t, dtype=points.dtype)
    return (points - t) @ R


def world_landmarks(body, x, trans, betas, camera):
    """The body model's 33 landmarks (T, 33, 3) in the world, from an estimate in ``camera``'s frame."""
    n = x.shape[0]
    rot = rot6d_to_matrix(x.reshape(n, 24, 6))
    return to_world(body.landmarks(rot, betas.expand(n, -1), trans), camera)


def reprojection_px(world, camera, keypoints, min_conf=CONFIDENT, only=None):
    """Mean distance (px) between world points (T, 33, 3) projected by ``camera`` (distortion
    included) and detections (T, 33, 3) whose visibility exceeds ``min_conf`` (and where
    ``only`` (T, 33) holds, if given); also the count."""
    uv = cn.project(camera, world.double().numpy())
    mask = keypoints[..., 2] > min_conf
    if only is not None:
        mask = mask & only
    err = np.linalg.norm(uv - keypoints[..., :2], axis=-1)[mask]
    return (float(err.mean()) if err.size else float("nan")), int(mask.sum())


# --- measures --------------------------------------------------------------------------------
def disagreement(body, estimates, cameras, betas_common):
    """Cross-view disagreement of per-view estimates {view: (x, trans, betas)} of the same frames."""
    rest = body.rest_joints(betas_common[None])
    rot, world_root, rel, pelvis = {}, {}, {}, {}
    for v, (x, trans, betas) in estimates.items():
        n = x.shape[0]
        r = rot6d_to_matrix(x.reshape(n, 24, 6))
        rot[v] = r
        world_root[v] = torch.as_tensor(cameras[v].R.T, dtype=r.dtype) @ r[:, 0]
        local = r.clone()
        local[:, 0] = torch.eye(3)
        _, joints = body.forward_kinematics(local, rest)
        rel[v] = joints - joints[:, :1]
        _, own = body.forward_kinematics(r, body.rest_joints(betas[None]))
        pelvis[v] = to_world(own[:, 0] + trans, cameras[v])
    out = {"joint_deg": [], "pose_mm": [], "root_deg": [], "pelvis_mm": []}
    for a, b in itertools.combinations(sorted(estimates), 2):
        out["joint_deg"].append(float(torch.rad2deg(geodesic_angle(rot[a][:, 1:], rot[b][:, 1:])).mean()))
        out["pose_mm"].append(float((rel[a] - rel[b]).norm(dim=-1).mean() * 1000))
        out["root_deg"].append(float(torch.rad2deg(geodesic_angle(world_root[a], world_root[b])).mean()))
        out["pelvis_mm"].append(float((pelvis[a] - pelvis[b]).norm(dim=-1).mean() * 1000))
    return {k: float(np.mean(v)) for k, v in out.items()}


def against_reference(world, reference, referenced):
    """Landmark errors (mm) of world landmarks (T, 33, 3) against the triangulated reference."""
    ref = torch.as_tensor(reference, dtype=world.dtype)
    ok = torch.as_tensor(referenced)
    frames = ok.all(1)       # alignment needs every landmark; 'abs' uses all referenced ones
    hip = [23, 24]
    pred_c = world - world[:, hip].mean(1, keepdim=True)
    ref_c = ref - ref[:, hip].mean(1, keepdim=True)
    out = {"ref_abs_mm": float((world - ref).norm(dim=-1)[ok].mean() * 1000),
           "ref_mm": float((pred_c - ref_c).norm(dim=-1)[ok].mean() * 1000)}
    out["ref_pa_mm"] = metrics.pa_mpjpe(world[frames], ref[frames]) if frames.any() else float("nan")
    return out


def evaluate(body, data, estimates, betas_common, heldout):
    """All measures of one method. estimates {view: (x, trans, betas)} made with all views in
    play; heldout {k: {u: (x, trans, betas)}} estimates made without view k, from views u."""
    cameras, kp = data["cameras"], data["keypoints"]
    out = disagreement(body, estimates, cameras, betas_common)
    refs, own = [], []
    for v, (x, trans, betas) in estimates.items():
        world = world_landmarks(body, x, trans, betas, cameras[v])
        refs.append(against_reference(world, data["reference"], data["referenced"]))
        own.append(reprojection_px(world, cameras[v], kp[v])[0])
    for key in refs[0]:
        out[key] = float(np.mean([r[key] for r in refs]))
    out["own_px"] = float(np.mean(own))
    per_view, clean, matrix = {}, {}, {}
    for k, from_views in heldout.items():
        worlds = {u: world_landmarks(body, x, t, b, cameras[u]) for u, (x, t, b) in from_views.items()}
        per_view[data["videos"][k]] = float(np.mean([reprojection_px(w, cameras[k], kp[k])[0]
                                                     for w in worlds.values()]))
        matrix[data["videos"][k]] = {data["videos"][u]: reprojection_px(w, cameras[k], kp[k], only=data["agrees"][k])[0]
                                     for u, w in worlds.items()}
        clean[data["videos"][k]] = float(np.mean(list(matrix[data["videos"][k]].values())))
    out["heldout_px"] = float(np.mean(list(per_view.values())))
    out["heldout_clean_px"] = float(np.mean(list(clean.values())))
    out["heldout_px_per_view"] = per_view
    out["heldout_clean_px_per_view"] = clean
    out["heldout_clean_px_by_source"] = matrix      # {held-out view: {view the estimate came from: px}}
    return out


# --- runs ------------------------------------------------------------------------------------
class Runner:
    def __init__(self, trained, body, data, config):
        self.trained, self.body, self.data, self.config = trained, body, data, config
        self.frames = data["pinhole"].shape[1]
        self.seconds = {}
        self._init = {}

    def _clock(self, key, started, frames):
        s, f = self.seconds.get(key, (0.0, 0))
        self.seconds[key] = (s + time.perf_counter() - started, f + frames)

    def init(self, views):
        """Initial state of ``views`` stacked (shared betas), cached."""
        views = tuple(views)
        if views not in self._init:
            started = time.perf_counter()
            with torch.no_grad():
                self._init[views] = initial_state(self.trained, self.body, self.body, *tensors(self.data, views))
            self._clock("init", started, len(views) * self.frames)
        return self._init[views]

    def refine(self, views, weight):
        """Temporal ScoreHMR of ``views`` together with multi-view weight ``weight``:
        {view: (x, trans, betas)}."""
        state = self.init(views)
        cfg = ScoreHMRConfig(**{**vars(self.config), "multiview": weight})
        engine = ScoreHMR(self.trained.diffusion, self.body, cfg)
        started = time.perf_counter()
        x, trans = engine.refine_sequence(state.x, state.trans, state.betas[None], state.obs,
                                          fps=self.data["fps"], temporal=True, views=len(views))
        self._clock("single_view" if len(views) == 1 else "multiview", started, len(views) * self.frames)
        return self.split(views, x, trans, state.betas)

    def split(self, views, x, trans, betas):
        t = self.frames
        return {v: (x[i * t:(i + 1) * t].detach(), trans[i * t:(i + 1) * t].detach(), betas)
                for i, v in enumerate(views)}

    def initial(self, views):
        state = self.init(views)
        return self.split(views, state.x, state.trans, state.betas)


def run_method(runner, method, weight, nviews):
    """Estimates with all views in play, and the held-out ones, of one method."""
    views = list(range(nviews))
    if method == "multiview":
        full = runner.refine(views, weight)
        heldout = {k: runner.refine([v for v in views if v != k], weight) for k in views}
        return full, heldout
    if method == "init":
        single = {v: runner.initial([v])[v] for v in views}
    else:
        single = {v: runner.refine([v], 0.0)[v] for v in views}
    return single, {k: {u: e for u, e in single.items() if u != k} for k in views}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", default=default_checkpoint_path())
    parser.add_argument("--cache", default=cn.CACHE)
    parser.add_argument("--stride", type=int, default=1, help="use every n-th frame (60 fps source)")
    parser.add_argument("--weight", type=float, default=DEFAULT_WEIGHT, help="multi-view weight of the table")
    parser.add_argument("--sweep", type=float, nargs="*", default=list(DEFAULT_SWEEP),
                        help="multi-view weights also measured (held-out reprojection and disagreement)")
    parser.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "multiview.json"))
    args = parser.parse_args()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    torch.manual_seed(0)
    started = time.perf_counter()
    load_start = round(os.getloadavg()[0], 2)     # other work on the machine slows the timings

    data = prepare(args.cache, args.stride)
    prepared = time.perf_counter() - started
    trained = load_prior(args.checkpoint)
    body = BodyModel.load()
    config = ScoreHMRConfig()
    runner = Runner(trained, body, data, config)
    nviews = len(data["cameras"])
    betas_common = runner.init(list(range(nviews))).betas     # one shape for pose_mm, every method

    results = {}
    for method in METHODS:
        full, heldout = run_method(runner, method, args.weight, nviews)
        with torch.no_grad():
            results[method] = evaluate(body, data, full, betas_common, heldout)
        print(f"  {method} done ({time.perf_counter() - started:.0f} s)", flush=True)
    sweep = {}
    for w in args.sweep:
        if w == args.weight:
            sweep[w] = results["multiview"]
            continue
        full, heldout = run_method(runner, "multiview", w, nviews)
        with torch.no_grad():
            sweep[w] = evaluate(body, data, full, betas_common, heldout)
        print(f"  multiview weight {w:g} done ({time.perf_counter() - started:.0f} s)", flush=True)

    timings = {k: {"seconds": round(s, 2), "rows": f, "rows_per_s": round(f / max(s, 1e-9), 1)}
               for k, (s, f) in runner.seconds.items()}
    timings["prepare_s"] = round(prepared, 2)
    timings["total_s"] = round(time.perf_counter() - started, 2)
    cols = ("joint_deg", "pose_mm", "root_deg", "pelvis_mm", "ref_mm", "ref_pa_mm", "ref_abs_mm", "own_px",
            "heldout_px", "heldout_clean_px")
    r2 = lambda d: {k: (round(v, 2) if isinstance(v, float) else r2(v) if isinstance(v, dict) else v)  # noqa: E731
                    for k, v in d.items()}
    report = {
        "source": {"videos": data["videos"], "package": f"pose2sim=={cn.POSE2SIM_VERSION}",
                   "frames": int(data["pinhole"].shape[1]), "stride": args.stride, "fps": data["fps"],
                   "views": nviews, "referenced_fraction": round(float(data["referenced"].mean()), 3)},
        "checkpoint": {"path": os.path.relpath(args.checkpoint, ROOT) if args.checkpoint else None,
                       "steps": trained.meta.get("step"), "mtime": time.strftime(
                           "%Y-%m-%dT%H:%M:%SZ", time.gmtime(os.path.getmtime(args.checkpoint)))
                       if args.checkpoint else None},
        "multiview_weight": args.weight,
        "settings": {**vars(config), "multiview": args.weight},   # single_view: the same, multiview 0
        "methods": {m: r2(results[m]) for m in METHODS},
        "sweep": {f"{w:g}": {c: round(sweep[w][c], 2) for c in cols} for w in sorted(sweep)},
        "timings": timings,
        "machine": {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(), "device": "cpu",
                    "load_average_1min": {"start": load_start, "end": round(os.getloadavg()[0], 2)}},
    }
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump(report, fh, indent=2)
        fh.write("\n")

    print(f"\nPose2Sim demo, {nviews} views x {report['source']['frames']} frames ({data['fps']:g} fps); "
          f"multi-view weight {args.weight:g}")
    print("joint/root: degrees; pose, pelvis, ref*: mm; own/heldout: px")
    width = {c: max(10, len(c)) + 1 for c in cols}
    print(f"{'method':<14}" + "".join(f"{c:>{width[c]}}" for c in cols))
    for m in METHODS:
        print(f"{m:<14}" + "".join(f" {results[m][c]:>{width[c] - 1}.2f}" for c in cols))
    print("\nmulti-view weight sweep")
    print(f"{'weight':<14}" + "".join(f"{c:>{width[c]}}" for c in cols))
    for w in sorted(sweep):
        print(f"{w:<14g}" + "".join(f" {sweep[w][c]:>{width[c] - 1}.2f}" for c in cols))
    print("\n" + ", ".join(f"{k} {v['rows_per_s']} rows/s" for k, v in timings.items() if isinstance(v, dict))
          + f"; total {timings['total_s']} s")
    print(f"wrote {os.path.relpath(args.out, ROOT)}")


if __name__ == "__main__":
    main()
