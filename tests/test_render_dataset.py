"""The render generator end to end on a tiny clip: real bpy render, real MediaPipe, arrays
written in the shared format, read back and checked against the truth they claim."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from backend.body_model import BodyModel
from smplcore.skeleton import JOINT_INDEX, LANDMARK_INDEX, NUM_LANDMARKS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FRAMES = 4


def _generate(out):
    # a subprocess: the generator resets Blender's scene, which the add-on tests share in-process
    cmd = [sys.executable, "-m", "tools.render_dataset", "--out", str(out), "--clips", "humanoid3d_walk",
           "--split", "heldout", "--heldout-views", "1", "--max-frames", str(FRAMES), "--no-photos",
           "--image-scale", "0.75"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    out = tmp_path_factory.mktemp("renders")
    log = _generate(out)
    return out, log


def test_writes_the_shared_format(rendered):
    out, log = rendered
    path = out / "heldout" / "humanoid3d_walk__v0.npz"
    assert "1 to go" in log
    with np.load(path, allow_pickle=False) as f:
        d = {k: f[k] for k in f.files}
    assert d["keypoints_2d"].shape == (FRAMES, NUM_LANDMARKS, 3) and d["keypoints_2d"].dtype == np.float32
    assert d["world_landmarks"].shape == (FRAMES, NUM_LANDMARKS, 3)
    assert d["presence"].shape == (FRAMES, NUM_LANDMARKS)
    assert d["poses"].shape == (FRAMES, 72) and d["trans"].shape == (FRAMES, 3) and d["betas"].shape == (10,)
    assert d["joints"].shape == (FRAMES, 24, 3) and d["cam_to_world"].shape == (4, 4)
    assert str(d["clip"]) == "humanoid3d_walk" and int(d["view"]) == 0
    width, height = (int(x) for x in d["image_size"])
    assert (width, height) in {(480, 360), (480, 270), (360, 480), (270, 480)}
    info = json.loads(str(d["render_info"]))
    assert info["engine"] == "workbench" and info["detector"]["model_complexity"] == 1


def test_truth_is_consistent_and_the_detector_sees_the_body(rendered):
    out, _ = rendered
    with np.load(out / "heldout" / "humanoid3d_walk__v0.npz", allow_pickle=False) as f:
        d = {k: f[k] for k in f.files}
    model = BodyModel.load()
    poses, trans = torch.as_tensor(d["poses"]), torch.as_tensor(d["trans"])
    betas = torch.as_tensor(d["betas"])[None].expand(FRAMES, -1)
    # the stored joints are the body model's joints of the stored camera-frame pose
    joints = model.joints(poses, betas, trans).numpy()
    np.testing.assert_allclose(joints, d["joints"], atol=1e-4)
    # cam_to_world puts the walking body on the floor z = 0, upright (head above pelvis)
    world = d["joints"] @ d["cam_to_world"][:3, :3].T + d["cam_to_world"][:3, 3]
    assert world[..., 2].min() > 0.0 and world[:, JOINT_INDEX["left_ankle"], 2].min() < 0.2
    assert (world[:, JOINT_INDEX["head"], 2] > world[:, JOINT_INDEX["pelvis"], 2] + 0.3).all()
    # MediaPipe found the rendered person, where the body model's landmarks project
    assert d["found"].all()
    landmarks = model.landmarks(poses, betas, trans).numpy()
    size = d["image_size"].astype(np.float64)
    pixels = float(d["focal_length"]) * landmarks[..., :2] / landmarks[..., 2:3] + size / 2
    limbs = [LANDMARK_INDEX[f"{s}_{p}"] for s in ("left", "right") for p in ("shoulder", "hip", "knee", "ankle")]
    error = np.linalg.norm(pixels[:, limbs] - d["keypoints_2d"][:, limbs, :2], axis=-1)
    assert np.median(error) < 0.04 * size.max(), np.median(error)
    # world landmarks are metric and hip-centred
    hips = d["world_landmarks"][:, [LANDMARK_INDEX["left_hip"], LANDMARK_INDEX["right_hip"]]].mean(1)
    assert np.abs(hips).max() < 0.05


def test_resumes_without_rendering_again(rendered):
    out, _ = rendered
    path = out / "heldout" / "humanoid3d_walk__v0.npz"
    before = path.stat().st_mtime_ns
    log = _generate(out)
    assert "1 of 1 views already rendered; 0 to go" in log
    assert path.stat().st_mtime_ns == before

