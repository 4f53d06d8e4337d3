"""Measure MediaPipe Pose's real 2D landmark noise, against exact truth or multi-view video.

    .venv/bin/python -m tools.calibrate_noise --renders data/renders/train   # against exact truth (current)
    .venv/bin/python -m tools.calibrate_noise                                # the Pose2Sim triangulation

Against exact truth (``--renders``): the training renders of tools/render_dataset.py hold
MediaPipe's detections of rendered bodies and the true pose, shape and camera; the reference is
the body model's landmarks (with the offsets fitted by tools/fit_landmarks.py) projected by the
true camera, so the statistics include what a triangulation hides: where MediaPipe puts a
landmark relative to the body (``systematic``, before and after the fitted offsets) and how the
error depends on the view (``view_dependence``: person size in pixels, body facing, camera
elevation). Each render file is one "view" of the statistics below (frames padded, not found).

Triangulation (no ``--renders``):

Source: the ``Demo_SinglePerson`` of the ``pose2sim`` wheel on PyPI (BSD-3-Clause): 4
synchronised 60 fps views of one person and the Qualisys calibration of those cameras.
Fetched with ``pip download`` into ``.cache/`` (never committed).

Method:
1. MediaPipe Pose runs on every frame of every view with the pipeline's own settings
   (``backend.detect``: model_complexity=1, video mode, landmark smoothing on).
2. Each landmark is triangulated across views (DLT weighted by visibility, RANSAC over view
   pairs to reject outlier views); the reference counts only where >= 3 views agree.
3. The reference is reprojected into every view; detection minus reprojection is the error,
   in pixels and divided by the person's size in that view (``person_size``: the larger side of
   the landmarks' 2D bounding box), so it transfers to other resolutions.
4. Per landmark: robust sigma, gross-outlier rate and size, drop-out rate (visibility < 0.5),
   visibility statistics and error-vs-visibility, left/right swaps, and temporal correlation of
   the error after subtracting the temporally smoothed reference.

Caveat: the reference is itself made of MediaPipe detections, so errors that all views share
(e.g. a systematic offset of the hip landmark from the true hip joint) cancel out and are not
measured; the figures are the view-dependent part of the noise. The result says so too.
"""
import argparse
import datetime
import glob
import itertools
import json
import os
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass

import numpy as np

from smplcore.image import person_size
from tools import pypi_files
from smplcore.skeleton import LANDMARK_MIRROR, LANDMARK_NAMES, NUM_LANDMARKS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

POSE2SIM_VERSION = "0.10.49"
DEMO = "Pose2Sim/Demo_SinglePerson"
CACHE = os.path.join(ROOT, ".cache", "noise_calibration")
DEFAULT_OUT = os.path.join(ROOT, "data", "noise_model.json")

VISIBLE = 0.5             # MediaPipe's own threshold: below it a landmark counts as dropped out
INLIER_VIEW = 0.04        # RANSAC: a view agrees with a 3D point within 4% of the person's size
OUTLIER_SIGMAS = 4.0      # gross outlier: error beyond 4 sigma (a 2D Gaussian exceeds it 0.03% of the time)
SWAP_GAIN = 0.5           # a swap: relabelling left<->right at least halves the error...
SWAP_MIN_ERROR = 0.05     # ...of an error larger than 5% of the person's size
SMOOTH_WINDOW = 9         # frames (150 ms at 60 fps) of the reference's Savitzky-Golay smoothing
MAX_LAG = 8

# landmark groups for swaps and for the summary table
GROUPS = {
    "face": ["nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
             "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right"],
    "shoulders": ["left_shoulder", "right_shoulder"],
    "elbows": ["left_elbow", "right_elbow"],
    "wrists": ["left_wrist", "right_wrist"],
    "hands": ["left_pinky", "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb"],
    "hips": ["left_hip", "right_hip"],
    "knees": ["left_knee", "right_knee"],
    "ankles": ["left_ankle", "right_ankle"],
    "feet": ["left_heel", "right_heel", "left_foot_index", "right_foot_index"],
}
SWAP_PARTS = {  # left/right label swaps MediaPipe makes: the whole body, or one pair of limbs
    "body": [n for n in LANDMARK_NAMES if n != "nose"],
    "arms": [f"{s}_{p}" for s in ("left", "right") for p in ("shoulder", "elbow", "wrist", "pinky", "index", "thumb")],
    "legs": [f"{s}_{p}" for s in ("left", "right") for p in ("hip", "knee", "ankle", "heel", "foot_index")],
}


# --- source ----------------------------------------------------------------------------------
def fetch_demo(cache=CACHE):
    """Videos and calibration of the Pose2Sim single-person demo, extracted under ``cache``."""
    folder = pypi_files.extracted(
        "pose2sim", POSE2SIM_VERSION,
        lambda n: n.startswith(f"{DEMO}/videos/") or n == f"{DEMO}/calibration/Calib.qca.txt"
        or n.endswith("dist-info/licenses/LICENSE"), cache)
    videos = sorted(glob.glob(os.path.join(folder, DEMO, "videos", "cam*.mp4")))
    return videos, os.path.join(folder, DEMO, "calibration", "Calib.qca.txt")


# --- cameras ---------------------------------------------------------------------------------
@dataclass
class Camera:
    name: str
    K: np.ndarray        # (3, 3) pixels
    dist: np.ndarray     # (4,) OpenCV k1, k2, p1, p2
    R: np.ndarray        # (3, 3) world -> camera (OpenCV: x right, y down, z forward)
    t: np.ndarray        # (3,) metres
    size: tuple          # (width, height) the calibration was made for

    @property
    def P(self):
        """(3, 4) pinhole projection of undistorted pixels."""
        return self.K @ np.hstack([self.R, self.t[:, None]])


def read_qca(path) -> list:
    """Cameras of a Qualisys ``.qca.txt`` file, converted as Pose2Sim's ``calib_qca_to_toml`` does.

    Qualisys stores intrinsics and distortion in 1/64 pixel units, the camera pose as its
    position (mm) and axes in the world, and cameras look along -z with y up; OpenCV's camera
    is that rotated by pi about x.
    """
    flip = np.diag([1.0, -1.0, -1.0])
    cameras = []
    for cam in ET.parse(path).getroot().iter("camera"):
        fov, intr, tr = cam.find("fov_video"), cam.find("intrinsic"), cam.find("transform")
        g = lambda node, key: float(node.get(key))  # noqa: E731
        left, top = g(fov, "left"), g(fov, "top")
        K = np.array([[g(intr, "focalLengthU") / 64, 0, g(intr, "centerPointU") / 64 - left],
                      [0, g(intr, "focalLengthV") / 64, g(intr, "centerPointV") / 64 - top],
                      [0, 0, 1]])
        dist = np.array([g(intr, k) / 64 for k in ("radialDistortion1", "radialDistortion2",
                                                     "tangentalDistortion1", "tangentalDistortion2")])
        # rows r1*, r2*, r3*: the world -> Qualisys-camera rotation (as Pose2Sim reads it; checked
        # by the reprojection error: the transpose makes the views disagree by metres)
        rotation = np.array([[g(tr, f"r{i}{j}") for j in (1, 2, 3)] for i in (1, 2, 3)])
        position = np.array([g(tr, k) for k in "xyz"]) / 1000
        R = flip @ rotation
        cameras.append(Camera(cam.get("serial"), K, dist, R, -R @ position,
                              (int(g(fov, "right") - left) + 1, int(g(fov, "bottom") - top) + 1)))
    return sorted(cameras, key=lambda c: c.name)


def refine_principal_points(cameras, uv, weight, size, iterations=4):
    """Shift each view's principal point by its mean reprojection residual, re-triangulating between.

    A shift shared by every landmark of a view is a calibration or crop mismatch, not detector
    noise (cam01/02 videos are 1080 px wide, the calibration is for 1088; cam03 is off by ~10 px
    too). Returns the refined cameras and the shifts in pixels.
    """
    cameras = list(cameras)
    for _ in range(iterations):
        X, inliers = triangulate_robust(cameras, uv, weight, size)
        used = inliers & (inliers.sum(-1, keepdims=True) >= 3)
        for v, camera in enumerate(cameras):
            residual = project(camera, X[used[..., v]]) - uv[..., v, :][used[..., v]]
            K = camera.K.copy()
            K[:2, 2] -= residual.mean(0)
            cameras[v] = Camera(camera.name, K, camera.dist, camera.R, camera.t, camera.size)
    return cameras


def project(camera: Camera, X):
    """World points (..., 3) -> distorted pixels (..., 2) (OpenCV's model)."""
    c = X @ camera.R.T + camera.t
    xy = c[..., :2] / c[..., 2:3]
    return distort(xy, camera.dist) * np.diag(camera.K)[:2] + camera.K[:2, 2]


def distort(xy, dist):
    k1, k2, p1, p2 = dist
    x, y = xy[..., 0], xy[..., 1]
    r2 = x * x + y * y
    radial = 1 + k1 * r2 + k2 * r2 * r2
    return np.stack([x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x),
                     y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y], -1)


def undistort_pixels(camera: Camera, uv, iterations=20):
    """Distorted pixels (..., 2) -> the pinhole pixels with the same ray (fixed-point inversion)."""
    target = (uv - camera.K[:2, 2]) / np.diag(camera.K)[:2]
    xy = target.copy()
    for _ in range(iterations):
        xy = xy + (target - distort(xy, camera.dist))
    return xy * np.diag(camera.K)[:2] + camera.K[:2, 2]


# --- triangulation -----------------------------------------------------------------------------
def triangulate_dlt(P, uv, weight):
    """Weighted linear triangulation.

    P (V, 3, 4) projections of undistorted pixels, uv (..., V, 2) undistorted pixels,
    weight (..., V) >= 0 (0 drops a view). Returns (..., 3).
    """
    rows = np.concatenate([uv[..., 0:1, None] * P[:, 2:3] - P[:, 0:1],
                           uv[..., 1:2, None] * P[:, 2:3] - P[:, 1:2]], -2)       # (..., V, 2, 4)
    # rows are scaled to unit norm so the weight alone sets a view's influence
    rows = rows / np.linalg.norm(rows, axis=-1, keepdims=True) * weight[..., None, None]
    A = rows.reshape(*rows.shape[:-3], -1, 4)
    _, _, vt = np.linalg.svd(A)
    h = vt[..., -1, :]
    return h[..., :3] / h[..., 3:4]


def triangulate_robust(cameras, uv, weight, size, threshold=INLIER_VIEW):
    """RANSAC over view pairs, then a weighted DLT on the views that agree.

    uv (..., V, 2) distorted pixels, weight (..., V), size (..., V) person size per view in px.
    Returns points (..., 3) and the inlier views (..., V) bool.
    """
    P = np.stack([c.P for c in cameras])
    flat = np.stack([undistort_pixels(c, uv[..., v, :]) for v, c in enumerate(cameras)], -2)
    best = (np.full(weight.shape[:-1], -1), np.zeros(weight.shape[:-1]))   # (agreeing views, their error)
    inliers = np.zeros(weight.shape, bool)
    for pair in itertools.combinations(range(len(cameras)), 2):
        w = np.zeros_like(weight)
        w[..., list(pair)] = weight[..., list(pair)]
        error = _view_error(cameras, triangulate_dlt(P, flat, w), uv, size)
        agree = (error < threshold) & (weight > 0)
        count = np.where(agree[..., list(pair)].all(-1), agree.sum(-1), 0)
        total = np.where(agree, error, 0).sum(-1)
        better = (count > best[0]) | ((count == best[0]) & (total < best[1]))
        inliers = np.where(better[..., None], agree, inliers)
        best = (np.where(better, count, best[0]), np.where(better, total, best[1]))
    for _ in range(2):  # refit on the agreeing views, then re-check agreement
        X = triangulate_dlt(P, flat, np.where(inliers, weight, 0))
        inliers = (_view_error(cameras, X, uv, size) < threshold) & (weight > 0)
    return triangulate_dlt(P, flat, np.where(inliers, weight, 0)), inliers


def _view_error(cameras, X, uv, size):
    """Reprojection error of points X (..., 3) in every view, over the person's size: (..., V)."""
    reproj = np.stack([project(c, X) for c in cameras], -2)
    with np.errstate(invalid="ignore"):
        return np.nan_to_num(np.linalg.norm(reproj - uv, axis=-1) / size, nan=np.inf)


# --- detection -------------------------------------------------------------------------------
def detect_views(videos, cache=CACHE):
    """MediaPipe on every frame of every view, cached: keypoints (V, T, 33, 3), found (V, T), fps,
    sizes, world landmarks (V, T, 33, 3) (a cache from before they were kept is made again)."""
    from backend import detect, video

    path = os.path.join(cache, "detections.npz")
    if os.path.isfile(path):
        saved = np.load(path, allow_pickle=False)
        if "world" in saved.files:
            return (saved["keypoints"], saved["found"], float(saved["fps"]), [tuple(s) for s in saved["sizes"]],
                    saved["world"])
    runs = []
    for name in videos:
        info = video.probe(name)
        runs.append(detect.detect_video(info, 0, info.frame_count, workers=1))
        print(f"  {os.path.basename(name)}: {runs[-1].found.sum()}/{runs[-1].num_frames} frames with a person",
              file=sys.stderr)
    frames = min(r.num_frames for r in runs)
    keypoints = np.stack([r.keypoints[:frames] for r in runs]).astype(np.float64)
    found = np.stack([r.found[:frames] for r in runs])
    sizes = [r.image_size for r in runs]
    world = np.stack([r.world[:frames] for r in runs]).astype(np.float64)
    np.savez(path, keypoints=keypoints, found=found, fps=runs[0].fps, sizes=np.array(sizes), world=world)
    return keypoints, found, runs[0].fps, sizes, world


# --- statistics ------------------------------------------------------------------------------
def robust_sigma(norms, iterations=5):
    """Per-axis sigma of 2D errors given their norms, ignoring gross outliers beyond OUTLIER_SIGMAS."""
    sigma = np.median(norms) / np.sqrt(2 * np.log(2))  # the Rayleigh median
    for _ in range(iterations):
        sigma = np.sqrt(np.mean(norms[norms < OUTLIER_SIGMAS * sigma] ** 2) / 2)
    return float(sigma)


def swap_masks(det, reproj, size, usable):
    """Per part of SWAP_PARTS: (T, V) frames where relabelling left<->right fixes the error.

    det, reproj (T, 33, V, 2), size (T, V), usable (T, 33, V). A body swap is not also counted
    as an arm or leg swap.
    """
    mirror = np.array(LANDMARK_MIRROR)
    own = np.linalg.norm(det - reproj, axis=-1) / size[:, None]
    swapped = np.linalg.norm(det[:, mirror] - reproj, axis=-1) / size[:, None]
    masks = {}
    for part, names in SWAP_PARTS.items():
        idx = [LANDMARK_NAMES.index(n) for n in names]
        ok = (usable[:, idx] & usable[:, mirror[idx]]).all(1)
        a, b = own[:, idx].mean(1), swapped[:, idx].mean(1)
        masks[part] = ok & (a > SWAP_MIN_ERROR) & (b < SWAP_GAIN * a)
    masks["arms"] &= ~masks["body"]
    masks["legs"] &= ~masks["body"]
    return masks


def savgol_smooth(X, valid, window=SMOOTH_WINDOW):
    """Savitzky-Golay (order 2) smoothing of (T, 33, 3) over time, bridging gaps by linear
    interpolation; frames without a point stay NaN."""
    from scipy.signal import savgol_filter

    out = np.full_like(X, np.nan)
    frames = np.arange(len(X))
    for l in range(X.shape[1]):
        ok = valid[:, l]
        if ok.sum() < window:
            continue
        filled = np.stack([np.interp(frames, frames[ok], X[ok, l, k]) for k in range(3)], -1)
        out[ok, l] = savgol_filter(filled, window, 2, axis=0)[ok]
    return out


def autocorrelation(e, mask, max_lag=MAX_LAG):
    """Pooled autocorrelation of error sequences e (T, ..., 2) where mask (T, ...) holds, lags 0..max_lag."""
    e = np.where(mask[..., None], e, 0.0)
    m = mask.astype(float)
    acf = []
    for k in range(max_lag + 1):
        pair = m[: len(m) - k] * m[k:]
        num = (e[: len(e) - k] * e[k:]).sum(-1) * pair
        den = 0.5 * ((e[: len(e) - k] ** 2).sum(-1) + (e[k:] ** 2).sum(-1)) * pair
        acf.append(float(num.sum() / max(den.sum(), 1e-12)))
    return acf


def visibility_moments(values, top=1.0):
    """Mean/std of visibilities in (0, top), and of their logits (the noise model samples logit-normal)."""
    values = np.asarray(values, float)
    if not values.size:
        return {"mean": None, "std": None, "logit_mean": None, "logit_std": None, "n": 0}
    p = np.clip(values / top, 1e-4, 1 - 1e-4)
    logit = np.log(p / (1 - p))
    return {"mean": float(values.mean()), "std": float(values.std()),
            "logit_mean": float(logit.mean()), "logit_std": float(logit.std()), "n": int(values.size)}


def mean_run_length(mask):
    """Mean length of the runs of True along axis 0 of a (T, ...) mask."""
    padded = np.pad(mask, [(1, 1)] + [(0, 0)] * (mask.ndim - 1)).astype(int)
    starts = int((np.diff(padded, axis=0) > 0).sum())
    return float(mask.sum() / starts) if starts else None


# --- measurement -----------------------------------------------------------------------------
def measure(cameras, keypoints, found):
    """All noise statistics from detections (V, T, 33, 3) and found (V, T) of calibrated views."""
    uv = keypoints[..., :2].transpose(1, 2, 0, 3)                       # (T, 33, V, 2)
    vis = keypoints[..., 2].transpose(1, 2, 0)                          # (T, 33, V)
    found = found.T                                                     # (T, V)
    weight = vis * found[:, None]
    detected_size = np.where(found, person_size(keypoints[..., :2]).T, 1.0)[:, None]

    original, cameras = cameras, refine_principal_points(cameras, uv, weight, detected_size)
    X, inliers = triangulate_robust(cameras, uv, weight, detected_size)
    n_inliers = inliers.sum(-1)
    referenced = n_inliers >= 3                                         # (T, 33)
    reproj = np.stack([project(c, X) for c in cameras], -2)
    # an inlier view helped place the point, so its residual underestimates the detector's error
    # by the least-squares factor (2n - 3) / 2n over n views: undo it
    dof = np.where(inliers, np.sqrt(2 * n_inliers / np.maximum(2 * n_inliers - 3, 1))[..., None], 1.0)
    smooth = np.stack([project(c, savgol_smooth(X, referenced)) for c in cameras], -2)
    stats = statistics(uv, vis, found, reproj, dof, referenced[..., None] & np.ones_like(found[:, None]), smooth)
    size = stats.pop("_size")
    stats["reference"] = {
        "referenced_fraction": float(referenced.mean()),
        "mean_inlier_views": float(n_inliers[referenced].mean()),
        "median_person_size_px": float(np.median(size)),
        "principal_point_shift_px": {c.name: np.round(c.K[:2, 2] - c0.K[:2, 2], 2).tolist()
                                     for c, c0 in zip(cameras, original)},
        "smooth_error_rms": stats.pop("_smooth_error_rms"),
    }
    return stats


def statistics(uv, vis, found, reproj, dof, referenced, smooth_reproj):
    """Noise statistics of detections uv (T, 33, V, 2) with visibility vis (T, 33, V) against a
    reference reproj (T, 33, V, 2) where referenced (T, 33, V); ``dof`` (T, 33, V) scales the
    residuals (1 against exact truth); smooth_reproj: the reference smoothed over time (the
    truth itself when it is exact), for the temporal statistics."""
    size = person_size(np.where(referenced[..., None], reproj, uv).transpose(0, 2, 1, 3))  # (T, V)
    error_px = (uv - reproj) * dof[..., None]
    error = error_px / size[:, None, :, None]
    norm, norm_px = np.linalg.norm(error, axis=-1), np.linalg.norm(error_px, axis=-1)

    usable = referenced & found[:, None]
    visible = vis >= VISIBLE
    swaps = swap_masks(uv, reproj, size, usable & visible)
    swapped = np.zeros_like(usable)
    for part, mask in swaps.items():
        idx = [LANDMARK_NAMES.index(n) for n in SWAP_PARTS[part]]
        swapped[:, idx] |= mask[:, None]
    clean = usable & visible & ~swapped

    lm = {k: [] for k in ("sigma", "sigma_px", "dropout_rate", "count", "visibility_mean", "visibility_std",
                          "visibility_logit_mean", "visibility_logit_std")}
    for l in range(NUM_LANDMARKS):
        lm["sigma"].append(robust_sigma(norm[:, l][clean[:, l]]))
        lm["sigma_px"].append(robust_sigma(norm_px[:, l][clean[:, l]]))
        lm["dropout_rate"].append(float(1 - visible[:, l][usable[:, l]].mean()))
        lm["count"].append(int(clean[:, l].sum()))
        moments = visibility_moments(vis[:, l][clean[:, l]])
        for key in ("mean", "std", "logit_mean", "logit_std"):
            lm[f"visibility_{key}"].append(moments[key])
    sigma = np.array(lm["sigma"])
    outlier = clean & (norm > OUTLIER_SIGMAS * sigma[None, :, None])
    inlier = clean & ~outlier

    temporal, smooth_error = _temporal(smooth_reproj, uv, size, inlier)
    groups, lm["outlier_rate"], lm["outlier_excess"], lm["rho"] = {}, [0.0] * 33, [0.0] * 33, [0.0] * 33
    for group, names in GROUPS.items():
        idx = [LANDMARK_NAMES.index(n) for n in names]
        excess = (norm[:, idx] - OUTLIER_SIGMAS * sigma[None, idx, None])[outlier[:, idx]]
        rate = float(outlier[:, idx].sum() / clean[:, idx].sum())
        for l in idx:  # few samples per landmark: outliers and time correlation are pooled per group
            lm["outlier_rate"][l] = rate
            lm["outlier_excess"][l] = float(excess.mean()) if excess.size else 0.0
            lm["rho"][l] = temporal["acf"][group][1]
        groups[group] = {
            "sigma": float(np.mean(sigma[idx])), "sigma_px": float(np.mean(np.array(lm["sigma_px"])[idx])),
            "outlier_rate": rate, "dropout_rate": float(np.mean(np.array(lm["dropout_rate"])[idx])),
            "rho": temporal["acf"][group][1], **temporal["jitter"][group]}

    dropped = usable & ~visible
    return {
        "landmarks": {"names": list(LANDMARK_NAMES), **lm},
        "groups": groups,
        "outliers": {"threshold_sigmas": OUTLIER_SIGMAS, "visibility": visibility_moments(vis[outlier]),
                     "count": int(outlier.sum()), "mean_duration_frames": mean_run_length(outlier)},
        "dropouts": {"visibility_threshold": VISIBLE, "visibility": visibility_moments(vis[dropped], VISIBLE),
                     "mean_duration_frames": mean_run_length(dropped),
                     "sigma": robust_sigma(norm[dropped]) if dropped.sum() > 10 else None,
                     "count": int(dropped.sum()), "frame_miss_rate": float(1 - found.mean())},
        "swaps": _swap_summary(swaps, usable.any(1)),
        "visibility_vs_error": _visibility_bins(vis, norm, sigma, usable & ~swapped, outlier),
        "temporal": temporal,
        "_size": size, "_smooth_error_rms": smooth_error,
    }


def _temporal(smooth_reproj, uv, size, inlier):
    """Autocorrelation and frame-to-frame jitter of the error around the smoothed reference, per group."""
    error = (uv - smooth_reproj) / size[:, None, :, None]
    mask = inlier & np.isfinite(error).all(-1)
    error = np.nan_to_num(error)
    acf, jitter = {}, {}
    for group, names in GROUPS.items():
        idx = [LANDMARK_NAMES.index(n) for n in names]
        acf[group] = autocorrelation(error[:, idx], mask[:, idx])
        both = mask[1:, idx] & mask[:-1, idx]
        step = (error[1:, idx] - error[:-1, idx])[both]
        px = step * size[1:, None, :, None].repeat(len(idx), 1)[both]
        level = np.sqrt((error[:, idx][mask[:, idx]] ** 2).mean() / 2)
        jitter[group] = {"jitter": float(np.sqrt((step ** 2).mean() / 2)),
                         "jitter_px": float(np.sqrt((px ** 2).mean() / 2)),
                         "jitter_white_ratio": float(np.sqrt((step ** 2).mean() / 2) / (np.sqrt(2) * level))}
    rms = float(np.sqrt((error[mask] ** 2).mean() / 2))
    return {"acf": acf, "jitter": jitter, "smoothing": f"Savitzky-Golay, order 2, {SMOOTH_WINDOW} frames"}, rms


def _swap_summary(swaps, frame_ok):
    """Per part the fraction of view-frames swapped; for any swap also events and their length."""
    out = {part: {"rate": float((mask & frame_ok).sum() / frame_ok.sum())} for part, mask in swaps.items()}
    union = np.logical_or.reduce(list(swaps.values())) & frame_ok
    padded = np.pad(union, ((1, 1), (0, 0))).astype(int)
    events = int((np.diff(padded, axis=0) > 0).sum())
    out["any"] = {"rate": float(union.sum() / frame_ok.sum()), "events": events,
                  "event_rate_per_frame": events / float(frame_ok.sum()),
                  "mean_duration_frames": float(union.sum() / events) if events else None}
    return out


def _visibility_bins(vis, norm, sigma, usable, outlier, edges=(0.0, 0.5, 0.8, 0.95, 0.99, 1.0001)):
    rows = []
    relative = norm / sigma[None, :, None]
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = usable & (vis >= lo) & (vis < hi)
        rows.append({"visibility": [lo, min(hi, 1.0)], "count": int(m.sum()),
                     "median_error": float(np.median(norm[m])) if m.any() else None,
                     "rms_over_sigma": float(np.sqrt((relative[m] ** 2).mean() / 2)) if m.any() else None,
                     "outlier_rate": float(outlier[m].mean()) if m.any() else None})
    return rows


# --- report ----------------------------------------------------------------------------------
CAVEATS = [
    "The 3D reference is triangulated from the same MediaPipe detections: errors shared by all views "
    "(a landmark placed consistently off the true anatomical point) cancel and are not measured; these "
    "figures are the view-dependent part of the noise, a lower bound on the error against ground truth.",
    "Sigmas of views that took part in a triangulation are corrected by the least-squares factor "
    "sqrt(2n / (2n - 3)) for n agreeing views.",
    "One person, one indoor scene, 100 frames at 60 fps in 4 views, no occluders: drop-outs, swaps "
    "and gross outliers are rare here, so their rates are coarse (see the counts).",
    "Each view's principal point was refined by its mean residual (a per-view shift is a calibration "
    "or crop mismatch, not detector noise).",
]


def table(model) -> str:
    swaps = model["swaps"]
    lines = [f"{'group':<10} {'sigma px':>8} {'sigma':>7} {'outl %':>7} {'drop %':>7} {'rho':>5} "
             f"{'jitter px':>9} {'jit/white':>9}"]
    for name, g in model["groups"].items():
        lines.append(f"{name:<10} {g['sigma_px']:8.2f} {g['sigma']:7.4f} {100 * g['outlier_rate']:7.2f} "
                     f"{100 * g['dropout_rate']:7.2f} {g['rho']:5.2f} {g['jitter_px']:9.2f} "
                     f"{g['jitter_white_ratio']:9.2f}")
    lines.append("swapped view-frames %: " + ", ".join(f"{k} {100 * v['rate']:.2f}" for k, v in swaps.items())
                 + f" ({swaps['any']['events']} events, mean {swaps['any']['mean_duration_frames']} frames)")
    lines.append(f"frame miss %: {100 * model['dropouts']['frame_miss_rate']:.2f}; "
                 f"person size (median) {model['reference']['median_person_size_px']:.0f} px")
    return "\n".join(lines)


def _rounded(value, digits=5):
    """Floats to ``digits`` significant digits, so the committed file stays small and diffable."""
    if isinstance(value, float):
        return float(f"{value:.{digits}g}")
    if isinstance(value, dict):
        return {k: _rounded(v, digits) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v, digits) for v in value]
    return value


def _render_arrays(files, body):
    """Detections and exact reference of render files, stacked as views (T_max, 33, V, …)."""
    import torch

    from backend.camera import project as project_points

    t_max = max(len(np.load(f, allow_pickle=False)["found"]) for f in files)
    v = len(files)
    uv, reproj = np.zeros((t_max, NUM_LANDMARKS, v, 2)), np.zeros((t_max, NUM_LANDMARKS, v, 2))
    vis, found = np.zeros((t_max, NUM_LANDMARKS, v)), np.zeros((t_max, v), bool)
    facing, elevation, sizes = np.zeros((t_max, v)), np.zeros(v), []
    exists = np.zeros((t_max, v), bool)  # frames of the file (the rest pads shorter files)
    for k, path in enumerate(files):
        with np.load(path, allow_pickle=False) as f:
            d = {key: f[key] for key in f.files}
        n = len(d["found"])
        poses, trans = torch.as_tensor(d["poses"]), torch.as_tensor(d["trans"])
        betas = torch.as_tensor(d["betas"])[None].expand(n, -1)
        with torch.no_grad():
            lm = body.landmarks(poses, betas, trans)
        focal = torch.full((n,), float(d["focal_length"]))
        principal = torch.as_tensor(d["image_size"] / 2.0, dtype=torch.float32).expand(n, 2)
        reproj[:n, :, k] = project_points(lm, focal, principal).numpy()
        uv[:n, :, k], vis[:n, :, k], found[:n, k] = d["keypoints_2d"][..., :2], d["keypoints_2d"][..., 2], d["found"]
        exists[:n, k] = True
        # the body's forward axis (+Z of the SMPL body frame) against the viewing direction
        from smplcore.rotations import axis_angle_to_matrix

        forward = axis_angle_to_matrix(d["poses"][:, :3].astype(np.float64))[:, :, 2]
        facing[:n, k] = np.degrees(np.arccos(np.clip(-forward[:, 2], -1, 1)))
        elevation[k] = np.degrees(np.arcsin(np.clip(-d["cam_to_world"][2, 2], -1, 1)))  # looking down: > 0
        sizes.append(tuple(int(x) for x in d["image_size"]))
    return uv, vis, found, reproj, facing, elevation, sizes, exists


def _binned_sigma(norm, clean, values, edges):
    rows = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = clean & (values >= lo) & (values < hi)
        rows.append({"range": [lo, hi], "count": int(m.sum()), "sigma": robust_sigma(norm[m]) if m.sum() > 50 else None})
    return rows


def measure_renders(files, body, hand_picked):
    """Statistics of the render files against exact truth (``body``: the fitted landmark
    definition), plus systematic offsets (also of ``hand_picked``) and view dependence."""
    uv, vis, found, reproj, facing, elevation, image_sizes, exists = _render_arrays(files, body)
    referenced = found[:, None, :] & np.ones((1, NUM_LANDMARKS, 1), bool)
    stats = statistics(uv, vis, found, reproj, np.ones(vis.shape), referenced, reproj)
    size = stats.pop("_size")
    stats.pop("_smooth_error_rms")
    stats["dropouts"]["frame_miss_rate"] = float(1 - found[exists].mean())
    clean = referenced & (vis >= VISIBLE)
    norm = np.linalg.norm(uv - reproj, axis=-1) / np.maximum(size[:, None], 1.0)
    systematic = {}
    for name, ref in (("fitted", reproj), ("hand_picked", _render_arrays(files, hand_picked)[3])):
        err = (uv - ref) / np.maximum(size[:, None, :, None], 1.0)
        bias = [np.median(err[:, l][clean[:, l]], axis=0) if clean[:, l].any() else np.zeros(2) for l in range(NUM_LANDMARKS)]
        systematic[name] = {"median_offset": [[round(float(x), 5) for x in b] for b in bias],
                            "median_offset_norm": round(float(np.mean([np.linalg.norm(b) for b in bias])), 5),
                            "mean_error_px": round(float(np.linalg.norm(uv - ref, axis=-1)[clean].mean()), 2)}
    stats["systematic"] = {"units": "median (x, y) detection - reference per landmark, in person sizes", **systematic}
    per_view = np.repeat(elevation[None, None], uv.shape[0], 0).repeat(NUM_LANDMARKS, 1)
    stats["view_dependence"] = {
        "person_size_px": _binned_sigma(norm, clean, np.repeat(size[:, None], NUM_LANDMARKS, 1), [0, 150, 250, 350, 5000]),
        "facing_deg": _binned_sigma(norm, clean, np.repeat(facing[:, None], NUM_LANDMARKS, 1), [0, 45, 90, 135, 181]),
        "camera_elevation_deg": _binned_sigma(norm, clean, per_view, [-90, -5, 5, 15, 90]),
    }
    stats["reference"] = {"referenced_fraction": float(found[exists].mean()), "median_person_size_px": float(np.median(size[found])),
                          "exact": True}
    return stats, image_sizes


def _side_by_side(old, new):
    lines = [f"{'group':<10} {'old sigma px':>12} {'new sigma px':>12} {'old sigma':>10} {'new sigma':>10} "
             f"{'old outl %':>10} {'new outl %':>10} {'old rho':>8} {'new rho':>8}"]
    for g in new["groups"]:
        o, n = old["groups"].get(g, {}), new["groups"][g]
        lines.append(f"{g:<10} {o.get('sigma_px', float('nan')):12.2f} {n['sigma_px']:12.2f} {o.get('sigma', float('nan')):10.4f} "
                     f"{n['sigma']:10.4f} {100 * o.get('outlier_rate', float('nan')):10.2f} {100 * n['outlier_rate']:10.2f} "
                     f"{o.get('rho', float('nan')):8.2f} {n['rho']:8.2f}")
    return "\n".join(lines)


def main_renders(args):
    import mediapipe

    from backend.body_model import BodyModel
    from smplcore.body_model_file import default_body_model_path, load_body_model_file

    files = sorted(glob.glob(os.path.join(args.renders, "*.npz")))
    if not files:
        raise SystemExit(f"no renders in {args.renders}: make them with python -m tools.render_dataset")
    arrays = load_body_model_file(default_body_model_path())
    fitted = BodyModel(arrays)
    for key in ("landmark_offsets", "landmark_offset_joints"):
        arrays.extras.pop(key, None)
    stats, sizes = measure_renders(files, fitted, BodyModel(arrays))
    frames = int(sum(np.load(f, allow_pickle=False)["found"].sum() for f in files))
    model = {
        "version": 1,
        "created": datetime.date.today().isoformat(),
        "made_by": f"python -m tools.calibrate_noise --renders {os.path.relpath(args.renders, ROOT)}",
        "source": {"renders": os.path.relpath(args.renders, ROOT), "files": len(files), "detected_frames": frames,
                   "image_sizes": sorted(set(sizes)), "fps": 30.0,
                   "made_by": "python -m tools.render_dataset (see data/README.md)"},
        "detector": {"mediapipe": mediapipe.__version__, "model_complexity": 1, "video_mode": True,
                     "smooth_landmarks": True},
        "person_size": "larger side of the 2D bounding box of the 33 reference landmarks, pixels; "
                       "'sigma' values are per image axis, in units of it",
        "caveats": RENDER_CAVEATS,
        **stats,
    }
    old = json.load(open(args.out)) if os.path.isfile(args.out) else None
    with open(args.out, "w") as f:
        json.dump(_rounded(model), f, indent=1)
        f.write("\n")
    print(table(model))
    if old is not None:
        print(f"\nold ({old.get('made_by')}) vs new ({model['made_by']}):")
        print(_side_by_side(old, model))
    print("systematic offset (mean over landmarks of |median offset|, person sizes): "
          + ", ".join(f"{k} {v['median_offset_norm']:.4f} ({v['mean_error_px']} px mean error)"
                      for k, v in stats["systematic"].items() if k != "units"))
    for key, rows in stats["view_dependence"].items():
        print(f"sigma by {key}: " + ", ".join(f"{r['range']}: {r['sigma'] if r['sigma'] is None else round(r['sigma'], 4)} (n={r['count']})" for r in rows))
    print(f"wrote {args.out}", file=sys.stderr)


RENDER_CAVEATS = [
    "Reference: exact truth (the rendered body's landmarks with the offsets fitted by tools/fit_landmarks.py, "
    "projected by the true camera); what remains is MediaPipe's error about where it places each landmark on average.",
    "Rendered bodies (Workbench, painted skin and clothes, no hair or cloth geometry) over photos: real "
    "footage may be harder (clothing, motion blur, lighting); held-out renders are never used here.",
    "Training renders of a few clips so far (see source.files): rates of rare events are coarse.",
]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=DEFAULT_OUT)
    parser.add_argument("--cache", default=CACHE)
    parser.add_argument("--renders", help="measure against exact truth on these render files (e.g. data/renders/train)")
    args = parser.parse_args(argv)
    if args.renders:
        return main_renders(args)

    os.makedirs(args.cache, exist_ok=True)
    videos, calibration = fetch_demo(args.cache)
    cameras = read_qca(calibration)
    keypoints, found, fps, sizes, _ = detect_views(videos, args.cache)
    import mediapipe

    model = {
        "version": 1,
        "created": datetime.date.today().isoformat(),
        "made_by": "python tools/calibrate_noise.py",
        "source": {
            "package": f"pose2sim=={POSE2SIM_VERSION} (PyPI wheel), licence BSD-3-Clause",
            "videos": [f"{DEMO}/videos/{os.path.basename(v)}" for v in videos],
            "calibration": f"{DEMO}/calibration/Calib.qca.txt",
            "image_sizes": [[int(n) for n in s] for s in sizes], "fps": fps,
            "frames_per_view": int(keypoints.shape[1]), "views": len(videos),
        },
        "detector": {"mediapipe": mediapipe.__version__, "model_complexity": 1, "video_mode": True,
                     "smooth_landmarks": True},
        "person_size": "larger side of the 2D bounding box of the 33 landmarks, pixels; "
                       "'sigma' values are per image axis, in units of it",
        "caveats": CAVEATS,
        **measure(cameras, keypoints, found),
    }
    with open(args.out, "w") as f:
        json.dump(_rounded(model), f, indent=1)
        f.write("\n")
    print(table(model))
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
