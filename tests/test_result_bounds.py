"""Result files with nonsense values are refused on write and on read, naming the field and range."""
import numpy as np
import pytest

from smplcore.result import MotionResult, ResultFileError
from test_result_file import make_result


@pytest.mark.parametrize("field, value, message", [
    ("frame_index", np.arange(12) + 10**9, r"'frame_index' runs 1000000000\.\.1000000011; expected .* in 0\.\.10000000"),
    ("frame_index", np.arange(12) - 3, r"'frame_index' runs -3\.\.8"),
    ("mocap_framerate", 1e-6, r"'mocap_framerate' is 1e-06; expected frames per second in \(1, 1000\]"),
    ("mocap_framerate", 10_000.0, r"'mocap_framerate' is 10000.0; expected .* \(1, 1000\]"),
    ("mocap_framerate", 1.0, r"\(1, 1000\]"),
    ("betas", np.full(10, 1e4), r"'betas' reaches 1e\+04; expected values within \+-10"),
    ("focal_length", 1e-9, r"'focal_length' is 1e-09 px; expected 28\.0\.\.36668 px for an image 640 px wide"),
    ("focal_length", 1e7, r"'focal_length' is 10000000.0 px"),
    ("valid", np.zeros(12, bool), r"'valid' is False on every frame"),
    ("poses", np.full((12, 72), 1e30), r"'poses' holds a rotation of .* at most 6\.28 rad"),
    ("keypoints_2d", np.full((12, 33, 3), np.inf), r"'keypoints_2d' contains NaN or infinite"),
    ("image_size", np.array([10**6, 480]), r"'image_size' is \[1000000, 480\]; expected .* 1\.\.32768"),
    ("version", 0, r"'version' is 0; expected 1\.\."),
])
def test_out_of_range_values_are_refused_on_write(tmp_path, field, value, message):
    result = make_result()
    setattr(result, field, value)
    with pytest.raises(ResultFileError, match=message):
        result.save(tmp_path / "bad.npz")
    assert not (tmp_path / "bad.npz").exists()


def _saved_arrays(tmp_path):
    make_result().save(tmp_path / "good.npz")
    with np.load(tmp_path / "good.npz") as data:
        return {k: data[k] for k in data.files}


@pytest.mark.parametrize("field, value, message", [
    ("mocap_framerate", np.array([30.0, 25.0]), r"'mocap_framerate' must be a number \(one value\), got float64 with shape \(2,\)"),
    ("version", np.array("abc"), r"'version' must be an integer \(one value\), got <U3"),
    ("version", np.array(1.5), r"'version' must be an integer"),
    ("focal_length", np.array("wide"), r"'focal_length' must be a number"),
    ("body_model", np.array(7), r"'body_model' must be a string"),
    ("frame_index", np.arange(12) * 10**8, r"'frame_index' runs 0\.\.1100000000"),
])
def test_malformed_files_are_refused_on_read_without_raw_errors(tmp_path, field, value, message):
    arrays = _saved_arrays(tmp_path)
    arrays[field] = value
    np.savez(tmp_path / "edited.npz", **arrays)
    with pytest.raises(ResultFileError, match=message):
        MotionResult.load(tmp_path / "edited.npz")


def test_values_at_the_bounds_are_accepted(tmp_path):
    result = make_result()
    result.mocap_framerate, result.betas = 1000.0, np.full(10, 10.0)
    result.frame_index = np.arange(12)
    result.valid[1:] = False
    result.save(tmp_path / "edge.npz")
    assert MotionResult.load(tmp_path / "edge.npz").mocap_framerate == 1000.0


# --- the error codes these bounds lead to ----------------------------------------------------

def test_an_impossible_fixed_pose_is_a_bad_request_not_a_bad_result(tmp_path):
    from backend import pipeline
    from backend.errors import BackendError

    make_result().save(tmp_path / "take.npz")
    with pytest.raises(BackendError) as caught:
        pipeline.refine_result(tmp_path / "take.npz", tmp_path / "out.npz", 7, 9, fixed={8: [1e30] * 72},
                               device="cpu")
    assert caught.value.code == "bad_request" and "frame 8" in caught.value.message
    assert not (tmp_path / "out.npz").exists()


@pytest.mark.parametrize("option, message", [({"focal": 1e-9}, "implausible for a video 960 px wide"),
                                             ({"height": 17.5}, "a performer 17.5 m tall is implausible")])
def test_an_implausible_focal_or_height_is_a_bad_request_before_detection(tmp_path, option, message):
    import os

    from backend import pipeline
    from backend.errors import BackendError
    from backend.job import JobContext

    video = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "walk_excerpt.mp4")
    stages = []
    with pytest.raises(BackendError) as caught:
        pipeline.run_video(video, tmp_path / "out.npz", device="cpu",
                           job=JobContext(lambda stage, done, total: stages.append(stage)), **option)
    assert caught.value.code == "bad_request" and message in caught.value.message
    assert stages == []


def test_error_codes_of_unexpected_exceptions():
    from backend.errors import as_backend_error

    missing = as_backend_error(ModuleNotFoundError("No module named 'cv2'", name="cv2"))
    assert missing.code == "missing_packages" and "Create Backend Environment" in missing.hint
    assert "bug" not in missing.hint
    damaged = as_backend_error(ResultFileError("'betas' reaches 1e+04"))
    assert damaged.code == "bad_result" and "import the video again" in damaged.hint
    bug = as_backend_error(KeyError("x"))
    assert bug.code == "internal" and "this is a bug" in bug.hint
