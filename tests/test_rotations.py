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


def test_every_torch_mirror_matches_its_numpy_function(random_axis_angles):
    """One vocabulary per array library: each function of backend/geometry.py against
    smplcore's of the same name, on the same inputs."""
    aa = random_axis_angles
    m = rotations.axis_angle_to_matrix(aa)
    x6 = rotations.matrix_to_rot6d(m)

    def t(a):
        return torch.tensor(a, dtype=torch.float64)

    pairs = {
        "axis_angle_to_matrix": (aa,), "matrix_to_axis_angle": (m,), "matrix_to_rot6d": (m,),
        "rot6d_to_matrix": (x6,), "axis_angle_to_rot6d": (aa,), "rot6d_to_axis_angle": (x6,),
        "geodesic_angle": (m[:-1], m[1:]),
    }
    torch_functions = {name for name in dir(geometry) if callable(getattr(geometry, name))
                       and getattr(getattr(geometry, name), "__module__", "") == geometry.__name__}
    assert torch_functions == set(pairs) | {"axis_rotation"}, "a function of backend/geometry.py is missing from this parity test"
    for name, args in pairs.items():
        want = getattr(rotations, name)(*args)
        got = getattr(geometry, name)(*map(t, args)).numpy()
        assert np.allclose(got, want, atol=1e-6), name
    angles = np.linspace(-4, 4, 17)
    for axis in "xyz":
        assert np.allclose(geometry.axis_rotation(axis, t(angles)).numpy(), rotations.axis_rotation(axis, angles), atol=1e-12)


def test_axis_and_euler_rotations():
    quarter = rotations.axis_rotation("z", np.pi / 2)
    assert np.allclose(quarter @ [1, 0, 0], [0, 1, 0], atol=1e-12)
    for axis, vector in zip("xyz", np.eye(3)):
        assert np.allclose(rotations.axis_rotation(axis, 0.7), rotations.axis_angle_to_matrix(vector * 0.7), atol=1e-12)
    angles = np.array([[30.0, -45.0, 60.0]])
    composed = rotations.axis_rotation("z", np.radians(30)) @ rotations.axis_rotation("x", np.radians(-45)) \
        @ rotations.axis_rotation("y", np.radians(60))
    assert np.allclose(rotations.euler_to_matrix(angles, "ZXY")[0], composed, atol=1e-12)


def test_shortest_arc_including_parallel_and_opposite_directions():
    rng = np.random.default_rng(2)
    for a, b in rng.normal(size=(50, 2, 3)):
        r = rotations.shortest_arc(a, b)
        assert np.allclose(r @ (a / np.linalg.norm(a)), b / np.linalg.norm(b), atol=1e-9)
        angle = np.arccos(np.clip(a @ b / np.linalg.norm(a) / np.linalg.norm(b), -1, 1))
        assert np.isclose(rotations.geodesic_angle(np.eye(3), r), angle, atol=1e-7)  # no twist added
    assert np.allclose(rotations.shortest_arc([0, 0, 2.0], [0, 0, 1.0]), np.eye(3))
    for a in ([0, 0, 1.0], [1.0, 0, 0], [0.6, 0.8, 0]):
        half = rotations.shortest_arc(a, -np.asarray(a))
        assert np.allclose(half @ a, -np.asarray(a), atol=1e-12) and np.allclose(half @ half.T, np.eye(3), atol=1e-12)
        assert np.isclose(np.linalg.det(half), 1.0)


def test_geodesic_angle_is_the_rotation_between():
    r = rotations.axis_angle_to_matrix(np.array([0.2, -0.4, 0.1]))
    turn = rotations.axis_angle_to_matrix(np.array([0.0, 0.0, 1.1]))
    assert np.isclose(rotations.geodesic_angle(r, r @ turn), 1.1)
    # axis-angle vectors near pi of one rotation are far apart, the rotations are not
    near_pi_a = rotations.axis_angle_to_matrix(np.array([np.pi - 1e-4, 0, 0]))
    near_pi_b = rotations.axis_angle_to_matrix(np.array([-(np.pi - 1e-4), 0, 0]))
    assert rotations.geodesic_angle(near_pi_a, near_pi_b) < 1e-3


def test_z_up_to_y_up_turns_the_world_about_the_pelvis():
    rng = np.random.default_rng(3)
    orient = rotations.axis_angle_to_matrix(rng.normal(size=(20, 3)))
    trans, pelvis = rng.normal(size=(20, 3)), np.array([0.003, -0.35, 0.01])
    turned, moved = axes.z_up_to_y_up(orient, trans, pelvis)
    # the pelvis (where SMPL's root rotation pivots) lands where the world turn takes it
    assert np.allclose(moved + pelvis, (trans + pelvis) @ axes.Z_UP_TO_Y_UP.T, atol=1e-12)
    assert np.allclose(turned, axes.Z_UP_TO_Y_UP @ orient, atol=1e-12)
    assert np.allclose(axes.Z_UP_TO_Y_UP @ [0, 0, 1], [0, 1, 0])   # Z-up's up is Y-up's up
    back, back_trans = axes.y_up_to_z_up(turned, moved, pelvis)
    assert np.allclose(back, orient, atol=1e-12) and np.allclose(back_trans, trans, atol=1e-12)


def test_person_size_numpy_and_torch_agree():
    from backend.condition import person_size as torch_person_size
    from smplcore.image import person_size

    points = np.random.default_rng(4).uniform(0, 900, size=(7, 33, 2))
    assert np.allclose(torch_person_size(torch.tensor(points)).numpy(), person_size(points))
    box = np.array([[[10.0, 20.0], [110.0, 60.0], [40.0, 220.0]]])
    assert np.allclose(person_size(box), [200.0])   # the larger side of the bounding box


def test_a_frame_shows_the_person_with_six_visible_landmarks():
    from backend.condition import MIN_VISIBLE, VISIBLE, observed

    kp = torch.zeros(3, 33, 3)
    kp[0, :MIN_VISIBLE, 2] = VISIBLE + 0.1
    kp[1, :MIN_VISIBLE - 1, 2] = 1.0
    kp[2, :, 2] = VISIBLE   # at the threshold is not visible
    assert observed(kp).tolist() == [True, False, False] and MIN_VISIBLE == 6
