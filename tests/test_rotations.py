import numpy as np
import pytest
import torch

from backend import geometry
from smplcore import axes, rotations


@pytest.fixture
def random_axis_angles():
    rng = np.random.default_rng(0)
    axis = rng.normal(size=(500, 3))
    axis /= np.linalg.norm(axis, axis=1, keepdims=True)
    angle = rng.uniform(0, np.pi - 1e-3, size=(500, 1))
    aa = axis * angle
    aa[:3] = [[0, 0, 0], [1e-9, 0, 0], [0, 0, np.pi - 1e-4]]  # identity, tiny, near pi
    return aa


def test_axis_angle_quaternion_matrix_6d_round_trips(random_axis_angles):
    aa = random_axis_angles
    m = rotations.axis_angle_to_matrix(aa)
    assert np.allclose(m @ np.swapaxes(m, -1, -2), np.eye(3), atol=1e-9)
    assert np.allclose(rotations.matrix_to_axis_angle(m), aa, atol=1e-6)
    q = rotations.axis_angle_to_quaternion(aa)
    assert np.allclose(rotations.quaternion_to_axis_angle(q), aa, atol=1e-6)
    assert np.allclose(rotations.quaternion_to_matrix(q), m, atol=1e-6)
    assert np.allclose(rotations.matrix_to_quaternion(m), q * np.sign(q[:, :1] + 1e-300), atol=1e-6)
    assert np.allclose(rotations.rot6d_to_matrix(rotations.matrix_to_rot6d(m)), m, atol=1e-6)
    assert np.allclose(rotations.rot6d_to_axis_angle(rotations.axis_angle_to_rot6d(aa)), aa, atol=1e-6)


def test_6d_layout_is_first_two_columns_row_major():
    m = rotations.axis_angle_to_matrix(np.array([0.3, -0.2, 0.9]))
    assert np.allclose(rotations.matrix_to_rot6d(m), [m[0, 0], m[0, 1], m[1, 0], m[1, 1], m[2, 0], m[2, 1]])


def test_torch_conversions_match_numpy(random_axis_angles):
    aa = random_axis_angles
    t = torch.tensor(aa, dtype=torch.float64)
    assert np.allclose(geometry.axis_angle_to_matrix(t).numpy(), rotations.axis_angle_to_matrix(aa), atol=1e-9)
    assert np.allclose(geometry.rot6d_to_axis_angle(geometry.axis_angle_to_rot6d(t)).numpy(), aa, atol=1e-6)
    assert np.allclose(geometry.matrix_to_axis_angle(geometry.axis_angle_to_matrix(t)).numpy(), aa, atol=1e-6)


def test_torch_axis_angle_gradient_finite_at_zero():
    aa = torch.zeros(2, 3, dtype=torch.float64, requires_grad=True)
    geometry.axis_angle_to_matrix(aa).sum().backward()
    assert torch.isfinite(aa.grad).all()


def test_quaternion_continuity_removes_sign_flips():
    q = rotations.axis_angle_to_quaternion(np.array([[0, 0, 0.1], [0, 0, 0.2], [0, 0, 0.3]]))
    q[1] *= -1
    fixed = rotations.quaternion_continuity(q)
    assert np.all(np.sum(fixed[1:] * fixed[:-1], axis=-1) > 0)


def test_axis_conversions_round_trip_and_are_rotations():
    rng = np.random.default_rng(1)
    p = rng.normal(size=(100, 3))
    for m in (axes.OPENCV_TO_BLENDER, axes.SMPL_TO_BLENDER):
        assert np.isclose(np.linalg.det(m), 1.0)
    assert np.allclose(axes.blender_points_to_opencv(axes.opencv_points_to_blender(p)), p, atol=1e-12)
    assert np.allclose(axes.blender_points_to_smpl(axes.smpl_points_to_blender(p)), p, atol=1e-12)
    r = rotations.axis_angle_to_matrix(rng.normal(size=3))
    assert np.allclose(axes.root_rotation_from_blender(axes.root_rotation_to_blender(r)), r, atol=1e-12)


def test_axis_conventions_mean_what_they_say():
    # camera looks along +Y in Blender; image "down" is Blender -Z
    assert np.allclose(axes.opencv_points_to_blender([0, 0, 1]), [0, 1, 0])
    assert np.allclose(axes.opencv_points_to_blender([0, 1, 0]), [0, 0, -1])
    # SMPL up is Blender up; SMPL forward (+Z) is Blender's front (-Y)
    assert np.allclose(axes.smpl_points_to_blender([0, 1, 0]), [0, 0, 1])
    assert np.allclose(axes.smpl_points_to_blender([0, 0, 1]), [0, -1, 0])
    # a person upright facing the camera: SMPL global orient = 180 deg about X
    upright = rotations.axis_angle_to_matrix(np.array([np.pi, 0, 0]))
    head_up = axes.root_rotation_to_blender(upright) @ axes.smpl_points_to_blender([0, 1, 0])
    facing = axes.root_rotation_to_blender(upright) @ axes.smpl_points_to_blender([0, 0, 1])
    assert np.allclose(head_up, [0, 0, 1], atol=1e-9)   # stays upright in Blender
    assert np.allclose(facing, [0, -1, 0], atol=1e-9)   # faces the camera at the origin
