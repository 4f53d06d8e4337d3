"""The calibrated observation-noise model (scorehmr_research/observation_noise.py) and the calibration's math."""
import copy
import json

import numpy as np
import pytest
import torch

from backend.condition import person_size
from scorehmr_research.observation_noise import DEFAULT_PATH, NoiseModel, _linear_recurrence, summarize
from smplcore.skeleton import LANDMARK_INDEX, LANDMARK_MIRROR
from tools import calibrate_noise as calib


@pytest.fixture(scope="module")
def params():
    with open(DEFAULT_PATH) as f:
        return json.load(f)


def _without(params, swaps=True, outliers=False, dropouts=False, noise=False):
    """A copy of the measured parameters with some effects switched off, to test the others alone."""
    p = copy.deepcopy(params)
    lm = p["landmarks"]
    if swaps:
        for part in ("body", "arms", "legs"):
            p["swaps"][part]["rate"] = 0.0
    if outliers:
        lm["outlier_rate"] = [0.0] * 33
    if dropouts:
        lm["dropout_rate"] = [0.0] * 33
    if noise:
        lm["sigma"] = [1e-6] * 33
    return p


def _clean(frames, seed=0):
    """Standing-person-like landmarks: random points in a 300 x 600 px box."""
    g = torch.Generator().manual_seed(seed)
    return torch.rand(frames, 33, 2, generator=g) * torch.tensor([300.0, 600.0]) + 100


def test_default_file_is_measured_mediapipe_noise(params):
    assert params["detector"]["model_complexity"] == 1
    # measured against exact truth on training renders (tools/calibrate_noise.py --renders)
    assert params["source"]["files"] > 0 and params["source"]["detected_frames"] > 0
    assert params["reference"]["exact"]
    sigma = np.array(params["landmarks"]["sigma"])
    assert sigma.shape == (33,) and (sigma > 0.002).all() and (sigma < 0.05).all()
    assert any("exact truth" in c for c in params["caveats"])
    described = NoiseModel(params).describe()
    assert set(described["measured"]["groups"]) >= {"face", "wrists", "ankles"}
    assert "occlusion_rate" in described["model"]["assumed"]


def test_sampled_statistics_match_the_measurement(params):
    model = NoiseModel(_without(params), occlusion_rate=0.0)
    clean = _clean(20000)
    noisy = model.apply(clean, generator=torch.Generator().manual_seed(1))
    stats = summarize(noisy, clean, person_size(clean), model)
    assert torch.allclose(stats["sigma"], model.sigma, rtol=0.05)
    assert torch.allclose(stats["dropout_rate"], model.dropout_rate, atol=0.01)
    # the rate is among visible landmarks (as the calibration counts it): drop-outs are not
    # outliers, and outlier flags are drawn independently of them; a few Gaussian draws also
    # exceed the threshold
    expected = model.outlier_rate
    assert torch.allclose(stats["outlier_rate"], expected, atol=0.006, rtol=0.1)  # hands: ~10 %, runs of frames


def test_reproducible_shapes_and_ranges(params):
    model = NoiseModel(params)
    clean = _clean(200).reshape(4, 50, 33, 2)
    a = model.apply(clean, generator=torch.Generator().manual_seed(3), temporal=True)
    b = model.apply(clean, generator=torch.Generator().manual_seed(3), temporal=True)
    c = model.apply(clean, generator=torch.Generator().manual_seed(4), temporal=True)
    assert a.shape == (4, 50, 33, 3) and torch.equal(a, b) and not torch.equal(a, c)
    assert torch.isfinite(a).all()
    assert ((a[..., 2] >= 0) & (a[..., 2] <= 1)).all()
    single = model.apply(clean[0], scale=torch.full((50,), 700.0), generator=torch.Generator().manual_seed(3))
    assert single.shape == (50, 33, 3)


def test_temporal_noise_is_smoother_than_independent_noise(params):
    model = NoiseModel(_without(params, outliers=True, dropouts=True), occlusion_rate=0.0)
    rho = model.rho.mean().item()
    assert rho > 0.5  # MediaPipe's error is strongly correlated frame to frame at 60 fps
    clean = _clean(1).expand(5000, 33, 2)

    def step(temporal):
        noise = model.apply(clean, generator=torch.Generator().manual_seed(5), temporal=temporal)[..., :2] - clean
        return (noise[1:] - noise[:-1]).norm(dim=-1).median() / noise.norm(dim=-1).median()

    independent, correlated = step(False), step(True)
    assert correlated < 0.6 * independent
    # the AR(1) model predicts the frame-to-frame step relative to the level: sqrt(2 (1 - rho))
    assert correlated == pytest.approx(np.sqrt(2 * (1 - rho)), rel=0.3)


def test_swaps_relabel_left_and_right_at_the_measured_rate(params):
    p = _without(params, swaps=False, outliers=True, dropouts=True, noise=True)
    model = NoiseModel(p, occlusion_rate=0.0)
    clean = _clean(20000)
    noisy = model.apply(clean, generator=torch.Generator().manual_seed(6))[..., :2]
    hip = LANDMARK_INDEX["left_hip"]
    swapped = (noisy[:, hip] - clean[:, LANDMARK_MIRROR[hip]]).norm(dim=-1) < 1e-2
    expected = p["swaps"]["body"]["rate"] + p["swaps"]["legs"]["rate"]
    assert swapped.float().mean().item() == pytest.approx(expected, abs=0.01)


def test_occlusions_hide_whole_limbs(params):
    model = NoiseModel(_without(params, dropouts=True), occlusion_rate=0.5)
    noisy = model.apply(_clean(2000), generator=torch.Generator().manual_seed(7), temporal=True)
    hidden = noisy[..., 2] < model.dropout_threshold
    wrist, elbow = LANDMARK_INDEX["left_wrist"], LANDMARK_INDEX["left_elbow"]
    assert 0.05 < hidden[:, wrist].float().mean() < 0.4
    assert (hidden[:, wrist] == hidden[:, elbow]).all()  # they belong to the same parts


def test_linear_recurrence_is_exact():
    b, rho = torch.randn(37, 33, 2, dtype=torch.float64), torch.rand(33, 1, dtype=torch.float64)
    expected = b.clone()
    for t in range(1, 37):
        expected[t] = rho * expected[t - 1] + b[t]
    assert torch.allclose(_linear_recurrence(b, rho), expected)


# --- the calibration's geometry ----------------------------------------------------------------
def _rig():
    """Four cameras on a circle of 4 m around the origin at 1.8 m height, looking at it, distorted."""
    cameras = []
    for i, angle in enumerate(np.radians([0, 80, 190, 275])):
        position = np.array([4 * np.cos(angle), 4 * np.sin(angle), 1.8])
        forward = -position / np.linalg.norm(position)
        right = np.cross(forward, [0, 0, 1.0])
        right /= np.linalg.norm(right)
        down = np.cross(forward, right)
        R = np.stack([right, down, forward])
        K = np.array([[1500.0, 0, 540 + 5 * i], [0, 1500.0, 960 - 3 * i], [0, 0, 1]])
        cameras.append(calib.Camera(f"cam{i}", K, np.array([-0.05, 0.1, 0.001, -0.002]), R, -R @ position, (1080, 1920)))
    return cameras


def test_dlt_triangulation_and_reprojection_are_exact():
    cameras = _rig()
    X = np.random.default_rng(0).uniform([-0.5, -0.5, 0.0], [0.5, 0.5, 1.9], (50, 3))
    uv = np.stack([calib.project(c, X) for c in cameras], -2)                    # (50, 4, 2) distorted
    flat = np.stack([calib.undistort_pixels(c, uv[:, v]) for v, c in enumerate(cameras)], -2)
    P = np.stack([c.P for c in cameras])
    assert np.allclose(calib.triangulate_dlt(P, flat, np.ones((50, 4))), X, atol=1e-6)
    weights = np.array([1.0, 0.3, 0.0, 0.8])  # a zero weight drops a view; any others are still exact
    assert np.allclose(calib.triangulate_dlt(P, flat, np.broadcast_to(weights, (50, 4))), X, atol=1e-6)
    cv2 = pytest.importorskip("cv2")  # our projection is OpenCV's camera model
    c = cameras[1]
    ref, _ = cv2.projectPoints(X, cv2.Rodrigues(c.R)[0], c.t, c.K, c.dist)
    assert np.allclose(calib.project(c, X), ref[:, 0], atol=1e-6)


def test_robust_triangulation_rejects_a_wrong_view():
    cameras = _rig()
    X = np.random.default_rng(1).uniform([-0.5, -0.5, 0.0], [0.5, 0.5, 1.9], (20, 3))
    uv = np.stack([calib.project(c, X) for c in cameras], -2)
    uv[:, 2] += 150.0  # view 2 is off by 150 px, e.g. it followed another landmark
    points, inliers = calib.triangulate_robust(cameras, uv, np.ones((20, 4)), np.full((20, 4), 700.0))
    assert np.allclose(points, X, atol=1e-6)
    assert (inliers == np.array([True, True, False, True])).all()
