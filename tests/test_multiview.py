"""Geometry of bench/multiview.py: estimates made in one calibrated camera's frame map into the
world and into other views exactly, and the cross-view measures vanish for consistent views."""
import math
import os

import numpy as np
import pytest
import torch

from backend.body_model import BodyModel
from backend.geometry import axis_angle_to_matrix, matrix_to_rot6d
from bench import multiview as mv

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _camera(name, yaw_deg, distance=3.5):
    """A camera on a circle around the world origin at 1 m height, looking at it (OpenCV axes)."""
    yaw = math.radians(yaw_deg)
    position = np.array([distance * math.sin(yaw), -1.0, -distance * math.cos(yaw)])  # world y down
    z = -position / np.linalg.norm(position)
    x = np.cross([0.0, -1.0, 0.0], z)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    R = np.stack([x, y, z])                     # world -> camera
    K = np.array([[1500.0, 0, 540], [0, 1500.0, 960], [0, 0, 1]])
    return mv.cn.Camera(name, K, np.zeros(4), R, -R @ position, (1080, 1920))


@pytest.fixture(scope="module")
def scene():
    torch.manual_seed(0)
    body = BodyModel.load()
    frames = 5
    aa = 0.3 * torch.randn(frames, 24, 3)
    aa[:, 0] = torch.tensor([math.pi, 0.0, 0.0])   # upright in a y-down world
    world_rot = axis_angle_to_matrix(aa)
    world_trans = 0.1 * torch.randn(frames, 3)
    betas = 0.5 * torch.randn(10)
    cameras = [_camera("a", 0.0), _camera("b", 70.0), _camera("c", 200.0)]
    j0 = body.rest_joints(betas[None])[0, 0]
    views = {}
    for v, cam in enumerate(cameras):
        R = torch.as_tensor(cam.R, dtype=torch.float32)
        t = torch.as_tensor(cam.t, dtype=torch.float32)
        rot = world_rot.clone()
        rot[:, 0] = R @ world_rot[:, 0]
        # SMPL's root rotates about the rest pelvis j0: trans_cam = R (j0 + trans) + t - j0
        trans = (j0 + world_trans) @ R.T + t - j0
        views[v] = (matrix_to_rot6d(rot).reshape(frames, 144), trans, betas)
    truth = body.landmarks(world_rot, betas.expand(frames, -1), world_trans)
    return body, cameras, views, truth, betas


def test_every_view_maps_to_the_same_world_body(scene):
    body, cameras, views, truth, _ = scene
    for v, (x, trans, betas) in views.items():
        world = mv.world_landmarks(body, x, trans, betas, cameras[v])
        assert torch.allclose(world, truth, atol=1e-4)


def test_reprojection_into_another_view_is_exact(scene):
    body, cameras, views, truth, _ = scene
    detections = mv.cn.project(cameras[2], truth.double().numpy())
    keypoints = np.concatenate([detections, np.ones(detections.shape[:-1] + (1,))], -1)
    x, trans, betas = views[0]
    px, count = mv.reprojection_px(mv.world_landmarks(body, x, trans, betas, cameras[0]), cameras[2], keypoints)
    assert count == truth.shape[0] * 33 and px < 0.05
    keypoints[..., 2] = 0.2    # not confident: nothing counts
    assert mv.reprojection_px(truth, cameras[2], keypoints)[1] == 0


def test_disagreement_is_zero_for_consistent_views_and_sees_one_bent_joint(scene):
    body, cameras, views, _, betas = scene
    out = mv.disagreement(body, views, cameras, betas)
    assert out["joint_deg"] < 0.05 and out["root_deg"] < 0.05
    assert out["pose_mm"] < 0.1 and out["pelvis_mm"] < 0.1
    # bend one body joint (the left knee) by 23 degrees in one view of three
    x, trans, b = views[1]
    rot = mv.rot6d_to_matrix(x.reshape(-1, 24, 6)).clone()
    rot[:, 4] = rot[:, 4] @ axis_angle_to_matrix(torch.tensor([math.radians(23.0), 0.0, 0.0]))
    bent = dict(views)
    bent[1] = (matrix_to_rot6d(rot).reshape(-1, 144), trans, b)
    out = mv.disagreement(body, bent, cameras, betas)
    # 2 of 3 pairs see 23 degrees on 1 of 23 joints: 2/3 degree on average
    assert out["joint_deg"] == pytest.approx(2 / 3, abs=0.02)
    assert out["root_deg"] < 0.05 and out["pose_mm"] > 1.0
