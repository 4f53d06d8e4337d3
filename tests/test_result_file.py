import numpy as np
import pytest

from smplcore.result import MotionResult, ResultFileError


def make_result(t=12):
    rng = np.random.default_rng(0)
    return MotionResult(
        poses=rng.normal(scale=0.2, size=(t, 72)), trans=rng.normal(size=(t, 3)) + [0, 0, 4],
        betas=rng.normal(size=10), mocap_framerate=30.0, frame_index=np.arange(t) + 5,
        valid=np.ones(t, dtype=bool), keypoints_2d=rng.uniform(0, 640, size=(t, 33, 3)),
        focal_length=800.0, image_size=np.array([640, 480]), body_model="scorehmr_neutral:abc")


def test_round_trip(tmp_path):
    r = make_result()
    r.save(tmp_path / "r.npz")
    back = MotionResult.load(tmp_path / "r.npz")
    assert np.allclose(back.poses, r.poses, atol=1e-6) and back.body_model == r.body_model
    assert back.frame_index.tolist() == r.frame_index.tolist() and back.num_frames == 12
    with np.load(tmp_path / "r.npz") as data:  # AMASS readers find what they expect
        assert {"poses", "trans", "betas", "mocap_framerate", "gender"} <= set(data.files)


@pytest.mark.parametrize("field, value, message", [
    ("poses", np.zeros((12, 69)), "poses"),
    ("trans", np.full((12, 3), np.nan), "NaN"),
    ("frame_index", np.zeros(12, dtype=int), "strictly increasing"),
    ("valid", np.ones(12), "dtype"),
    ("mocap_framerate", 0.0, "mocap_framerate"),
    ("keypoints_2d", np.zeros((12, 17, 3)), "keypoints_2d"),
])
def test_invalid_results_are_refused_on_write(tmp_path, field, value, message):
    r = make_result()
    setattr(r, field, value)
    with pytest.raises(ResultFileError, match=message):
        r.save(tmp_path / "bad.npz")
    assert not (tmp_path / "bad.npz").exists()


def test_foreign_and_broken_files_are_refused_on_read(tmp_path):
    np.savez(tmp_path / "amass.npz", poses=np.zeros((3, 156)), trans=np.zeros((3, 3)))
    with pytest.raises(ResultFileError, match="missing"):
        MotionResult.load(tmp_path / "amass.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(ResultFileError, match="cannot read"):
        MotionResult.load(tmp_path / "text.npz")
    with pytest.raises(ResultFileError, match="not found"):
        MotionResult.load(tmp_path / "absent.npz")


def test_newer_version_asks_for_an_update(tmp_path):
    r = make_result()
    r.version = 99
    with pytest.raises(ResultFileError, match="update the add-on"):
        r.validate()


def test_cam_to_world_round_trips_and_old_files_still_load(tmp_path):
    r = make_result()
    r.version = 1                    # a file written before the world frame existed
    r.save(tmp_path / "old.npz")
    old = MotionResult.load(tmp_path / "old.npz")
    assert old.cam_to_world is None and old.world_note == ""
    pose = np.eye(4)
    pose[:3, :3] = [[1, 0, 0], [0, 0, 1], [0, -1, 0]]
    pose[:3, 3] = [0.0, -3.0, 1.5]
    r = make_result()
    r.cam_to_world = pose
    r.save(tmp_path / "world.npz")
    back = MotionResult.load(tmp_path / "world.npz")
    assert back.version == 3 and np.allclose(back.cam_to_world, pose) and "cam_to_world" not in back.extras


@pytest.mark.parametrize("matrix, message", [
    (np.eye(3), "shape"),
    (np.diag([2.0, 2.0, 2.0, 1.0]), "rigid"),
    (np.diag([1.0, 1.0, -1.0, 1.0]), "rigid"),
    (np.full((4, 4), np.nan), "NaN"),
])
def test_bad_cam_to_world_is_refused(tmp_path, matrix, message):
    r = make_result()
    r.cam_to_world = matrix
    with pytest.raises(ResultFileError, match=message):
        r.save(tmp_path / "bad.npz")


def test_hands_round_trip_and_files_without_hands_still_load(tmp_path):
    r = make_result()
    r.save(tmp_path / "body.npz")
    assert MotionResult.load(tmp_path / "body.npz").hand_poses is None
    r.hand_poses = np.random.default_rng(1).normal(scale=0.3, size=(12, 90))
    r.hand_valid = np.ones((12, 2), dtype=bool)
    r.hand_valid[3, 0] = False
    r.save(tmp_path / "hands.npz")
    back = MotionResult.load(tmp_path / "hands.npz")
    assert np.allclose(back.hand_poses, r.hand_poses, atol=1e-6) and not back.hand_valid[3, 0]
    assert "hand_poses" not in back.extras and back.version == 3


@pytest.mark.parametrize("poses, valid, message", [
    (np.zeros((12, 90)), None, "come together"),
    (np.zeros((12, 45)), np.ones((12, 2), bool), "hand_poses"),
    (np.zeros((12, 90)), np.ones((12, 1), bool), "hand_valid"),
    (np.full((12, 90), np.inf), np.ones((12, 2), bool), "NaN or infinite"),
])
def test_bad_hands_are_refused(tmp_path, poses, valid, message):
    r = make_result()
    r.hand_poses, r.hand_valid = poses, valid
    with pytest.raises(ResultFileError, match=message):
        r.save(tmp_path / "bad.npz")


def test_world_landmarks_round_trip_and_bad_ones_are_refused(tmp_path):
    r = make_result()
    r.world_landmarks = np.random.default_rng(2).normal(scale=0.3, size=(12, 33, 3))
    r.world_landmarks[4] = 0.0                        # a frame without a detection
    r.save(tmp_path / "world.npz")
    back = MotionResult.load(tmp_path / "world.npz")
    assert np.allclose(back.world_landmarks, r.world_landmarks, atol=1e-6) and "world_landmarks" not in back.extras
    r.world_landmarks = np.zeros((11, 33, 3))
    with pytest.raises(ResultFileError, match="world_landmarks"):
        r.save(tmp_path / "bad.npz")
    r.world_landmarks = np.full((12, 33, 3), np.nan)
    with pytest.raises(ResultFileError, match="world_landmarks"):
        r.save(tmp_path / "bad.npz")
