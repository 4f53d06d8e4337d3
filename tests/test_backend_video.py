"""The video backend on real footage: decoding, detection, main-person tracking, errors, runs.

``tests/data/walk_excerpt.mp4`` (see data/README.md): 130 frames, 960x540, 30 fps; MediaPipe
follows a walking woman on frames 0-100, loses her as she leaves the frame, then finds a man.
"""
import math
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from backend import detect, pipeline, track, video
from backend.device import resolve_device
from backend.errors import BackendError, Cancelled, as_backend_error
from backend.job import JobContext
from smplcore.protocol import ERROR_EXIT_CODES
from smplcore.result import MotionResult, ResultFileError
from smplcore.rotations import axis_angle_to_matrix
from smplcore.skeleton import LANDMARK_INDEX

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXCERPT = os.path.join(ROOT, "tests", "data", "walk_excerpt.mp4")
WOMAN_LAST_FRAME = 100  # MediaPipe follows her on frames 0..100 of the excerpt


def _excerpt_frames(count, start=0):
    return [frame for _, frame in video.iter_frames(EXCERPT, start, start + count)]


def write_video(path, frames, fps=30.0):
    import cv2

    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    for frame in frames:
        writer.write(frame)
    writer.release()
    return str(path)


def empty_scene_video(path, count=20):
    """Real background (the buildings at the excerpt's top left, where nobody walks), panning."""
    import cv2

    background = _excerpt_frames(1)[0][:270, :330]
    frames = [cv2.resize(background[:, i:i + 300], (480, 432)) for i in range(count)]
    return write_video(path, frames)


@pytest.fixture(scope="module")
def excerpt_people():
    """Detections of the whole excerpt and its main person (one MediaPipe pass, shared)."""
    return pipeline.detect_person(EXCERPT)


# --- decoding ------------------------------------------------------------------------------

def test_probe_reports_size_rate_and_length():
    info = video.probe(EXCERPT)
    assert (info.width, info.height, info.fps, info.frame_count) == (960, 540, 30.0, 130)


def test_frames_stream_in_order_from_any_start():
    sequential = _excerpt_frames(15)
    seeked = list(video.iter_frames(EXCERPT, 10, 15))
    assert [number for number, _ in seeked] == [10, 11, 12, 13, 14]
    for (_, frame), expected in zip(seeked, sequential[10:]):
        assert frame.shape == (540, 960, 3) and np.array_equal(frame, expected)


def test_frame_range_is_inclusive_and_checked():
    info = video.probe(EXCERPT)
    assert video.frame_range(info) == (0, 130)
    assert video.frame_range(info, 10, 20) == (10, 21)
    assert video.frame_range(info, 120, 500) == (120, 130)
    for start, end in ((200, None), (-1, None), (50, 40)):
        with pytest.raises(BackendError) as caught:
            video.frame_range(info, start, end)
        assert caught.value.code == "bad_request"


def _unreadable_files(folder):
    text = folder / "notes.mp4"
    text.write_text("this is a text file renamed to .mp4\n" * 20)
    empty = folder / "empty.mp4"
    empty.write_bytes(b"")
    corrupt = folder / "corrupt.mp4"  # a real header followed by garbage: opens, nothing decodes
    head = open(EXCERPT, "rb").read(3000)
    corrupt.write_bytes(head + np.random.default_rng(0).bytes(200_000))
    return {"missing": folder / "missing.mp4", "folder": folder, "text renamed .mp4": text,
            "zero-length": empty, "corrupt": corrupt}


@pytest.mark.parametrize("kind", ["missing", "folder", "text renamed .mp4", "zero-length", "corrupt"])
def test_unreadable_videos_give_a_clear_error(tmp_path, kind):
    path = _unreadable_files(tmp_path)[kind]
    with pytest.raises(BackendError) as caught:
        pipeline.run_video(path, tmp_path / "out.npz", device="cpu")
    error = caught.value
    assert error.code == "unreadable_video" and error.exit_code == ERROR_EXIT_CODES["unreadable_video"]
    assert error.message and error.hint
    assert not (tmp_path / "out.npz").exists()


def test_truncated_video_keeps_the_frames_that_decode(tmp_path):
    data = open(EXCERPT, "rb").read()
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(data[: len(data) // 2])
    info = video.probe(truncated)
    detections = detect.detect_video(info, 0, info.frame_count)
    assert 10 < detections.num_frames < info.frame_count
    assert detections.found.mean() > 0.9


def test_video_without_a_person_gives_no_person(tmp_path):
    path = empty_scene_video(tmp_path / "empty_scene.mp4")
    with pytest.raises(BackendError) as caught:
        pipeline.run_video(path, tmp_path / "out.npz", device="cpu")
    assert caught.value.code == "no_person" and caught.value.hint
    assert not (tmp_path / "out.npz").exists()


# --- detection and tracking -----------------------------------------------------------------

def test_landmarks_are_found_and_anatomically_plausible(excerpt_people):
    info, detections, keypoints, valid = excerpt_people
    assert detections.num_frames == 130 and detections.found.mean() > 0.9
    woman = keypoints[: WOMAN_LAST_FRAME + 1]
    xy, visibility = woman[..., :2], woman[..., 2]
    assert np.all((visibility >= 0) & (visibility <= 1)) and np.median(visibility) > 0.5
    y = lambda name: xy[:, LANDMARK_INDEX[name], 1]  # noqa: E731 - image y grows downwards
    assert np.all(y("nose") < y("left_hip")) and np.all(y("left_hip") < y("left_ankle"))
    assert np.all(y("left_shoulder") < y("left_hip"))
    centre, scale = track.body_centre_and_scale(woman)
    assert np.all((centre[:, 1] > 0.4 * 540) & (centre[:, 1] < 0.9 * 540))  # she walks on the lawn
    assert np.all((scale > 60) & (scale < 300))
    # she walks right to left at roughly constant speed, ~5 px/frame
    step = np.diff(centre[:, 0])
    assert centre[0, 0] > 500 and centre[-1, 0] < 40 and -9 < np.median(step) < -3
    world = detections.world[detections.found]
    assert np.all(np.abs(world) < 1.5)  # metres around the hips


def test_main_person_is_kept_and_the_other_person_is_not(excerpt_people):
    _, detections, keypoints, valid = excerpt_people
    assert valid[: WOMAN_LAST_FRAME + 1].all() and not valid[WOMAN_LAST_FRAME + 1:].any()
    assert detections.found[WOMAN_LAST_FRAME + 2:].sum() > 20  # the man was detected ...
    assert np.all(keypoints[~valid] == 0)  # ... but is not passed on
    centre, scale = track.body_centre_and_scale(keypoints[valid])
    assert np.all(np.linalg.norm(np.diff(centre, axis=0), axis=1) < 0.3 * scale[1:])


def test_tracking_splits_at_a_jump_and_bridges_a_short_loss(excerpt_people):
    _, detections, _, _ = excerpt_people
    woman, man = np.arange(0, 60), np.arange(102, 127)
    rows = np.concatenate([woman, man])  # as if MediaPipe jumped to the man after frame 59
    keypoints, found = detections.keypoints[rows], detections.found[rows].copy()
    valid, tracklets, chain = track.select_main_person(keypoints, found, 30.0)
    assert len(tracklets) == 2 and valid[:60].all() and not valid[60:].any()
    found[20:24] = False  # the woman lost for 4 frames: one person, bridged, not invented
    valid, tracklets, chain = track.select_main_person(keypoints, found, 30.0)
    assert len(chain) == 2 and valid[:20].all() and not valid[20:24].any() and valid[24:60].all()


def test_parallel_detection_matches_one_sequential_pass(monkeypatch):
    info = video.probe(EXCERPT)
    sequential = detect.detect_video(info, 0, 130, workers=1)
    monkeypatch.setattr(detect, "MIN_CHUNK_FRAMES", 30)  # 4 chunks of ~32 frames, each starting afresh
    checks = []
    job = JobContext()
    started = time.perf_counter()
    with job.stopped_by(lambda: checks.append(1) and False):
        chunked = detect.detect_video(info, 0, 130, workers=4, job=job)
    # the calling thread checks for cancellation every 50 ms while the workers run; it must not
    # spin once the first worker is done (it took a core from those still detecting)
    assert len(checks) <= 10 + 2 * (time.perf_counter() - started) / 0.05
    assert np.array_equal(chunked.found, sequential.found)
    both = chunked.found
    distance = np.linalg.norm(chunked.keypoints[both, :, :2] - sequential.keypoints[both, :, :2], axis=-1)
    assert np.median(distance) < 1.0 and distance.mean(axis=1).max() < 15


def test_detection_stops_promptly_when_cancelled():
    info = video.probe(EXCERPT)
    reports = []

    def cancel_after_a_few_reports(stage, done, total):
        reports.append(done)
        if len(reports) > 3:
            job.cancel()

    job = JobContext(cancel_after_a_few_reports, interval=0.0)
    with pytest.raises(Cancelled):
        detect.detect_video(info, 0, 130, job=job)


# --- errors, devices, focal length ---------------------------------------------------------

def test_default_focal_is_a_55_degree_field_of_view():
    focal = pipeline.default_focal_length(960)
    assert math.degrees(2 * math.atan(480 / focal)) == pytest.approx(55.0)


def test_failures_map_to_protocol_codes():
    assert as_backend_error(MemoryError()).code == "out_of_memory"
    assert as_backend_error(RuntimeError("CUDA out of memory. Tried to allocate 2 GiB")).code == "out_of_memory"
    assert as_backend_error(ResultFileError("'poses' has shape (3,)")).code == "bad_result"
    crash = as_backend_error(ZeroDivisionError("division by zero"))
    assert crash.code == "internal" and "ZeroDivisionError" in crash.message
    with pytest.raises(ValueError):
        BackendError("no_such_code", "message")
    error = BackendError("no_person", "nobody", "film a person")
    assert error.event("job1") == {"type": "error", "id": "job1", "code": "no_person",
                                   "message": "nobody", "hint": "film a person"}


def test_devices_resolve_or_fail_clearly():
    import torch

    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(BackendError) as caught:
        resolve_device("tpu")
    assert caught.value.code == "bad_device"
    if not torch.cuda.is_available():
        with pytest.raises(BackendError) as caught:
            resolve_device("cuda")
        assert caught.value.code == "bad_device" and "--device cpu" in caught.value.hint


def test_missing_body_model_and_checkpoint_fail_before_detection(tmp_path):
    for option, code in (("body_model", "bad_body_model"), ("checkpoint", "bad_checkpoint")):
        with pytest.raises(BackendError) as caught:
            pipeline.run_video(EXCERPT, tmp_path / "out.npz", device="cpu", **{option: str(tmp_path / "nope")})
        assert caught.value.code == code


# --- the command line -----------------------------------------------------------------------

def _backend(*args):
    return subprocess.run([sys.executable, "-m", "backend", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


def test_cli_run_exits_with_the_error_code_and_a_hint(tmp_path):
    text = _unreadable_files(tmp_path)["text renamed .mp4"]
    out = _backend("run", str(text), "--out", str(tmp_path / "out.npz"), "--device", "cpu")
    assert out.returncode == ERROR_EXIT_CODES["unreadable_video"]
    assert "error:" in out.stderr and "hint:" in out.stderr and out.stdout == ""


def test_cli_run_folder_skips_done_results_and_reports_failures(tmp_path):
    videos, results = tmp_path / "videos", tmp_path / "results"
    videos.mkdir()
    results.mkdir()
    (videos / "broken.mp4").write_text("not a video")
    os.symlink(EXCERPT, videos / "walk.mp4")
    done = _tiny_result()
    done.save(results / "walk.npz")
    out = _backend("run-folder", str(videos), "--out", str(results), "--device", "cpu")
    assert out.returncode == ERROR_EXIT_CODES["unreadable_video"], out.stderr
    assert "walk.mp4: skipped" in out.stderr and "0 done, 1 skipped (already done), 1 failed" in out.stderr
    assert not (results / "broken.npz").exists()


def _tiny_result():
    count = 3
    return MotionResult(
        poses=np.zeros((count, 72), np.float32), trans=np.tile(np.float32([0, 0, 3]), (count, 1)),
        betas=np.zeros(10, np.float32), mocap_framerate=30.0, frame_index=np.arange(count),
        valid=np.ones(count, bool), keypoints_2d=np.zeros((count, 33, 3), np.float32), focal_length=900.0,
        image_size=np.array([960, 540]), body_model="test")


# --- full runs (need the solver) -------------------------------------------------------------

REPROJECTION_BOUND = 0.06  # mean landmark error, as a fraction of the person's height in pixels


def reprojection_errors(result: MotionResult):
    """Per valid frame: mean pixel distance between the solved body's landmarks and MediaPipe's."""
    import torch

    from backend.body_model import BodyModel

    model = BodyModel.load()
    with torch.no_grad():
        points = model.landmarks(torch.as_tensor(result.poses), torch.as_tensor(result.betas)[None].repeat(
            result.num_frames, 1), torch.as_tensor(result.trans)).numpy()
    width, height = result.image_size
    pixels = result.focal_length * points[..., :2] / points[..., 2:3] + np.array([width, height]) / 2
    observed = result.keypoints_2d
    errors, heights = [], []
    for row in np.flatnonzero(result.valid):
        seen = observed[row, :, 2] > 0.5
        errors.append(np.linalg.norm(pixels[row, seen] - observed[row, seen, :2], axis=-1).mean())
        heights.append(np.ptp(observed[row, seen, 1]))
    return np.array(errors), np.array(heights)


def test_run_on_real_footage_fits_the_detections(tmp_path):
    out = tmp_path / "walk.npz"
    stages = []
    pipeline.run_video(EXCERPT, out, device="cpu", job=JobContext(lambda stage, done, total: stages.append(stage)))
    result = MotionResult.load(out)
    assert result.num_frames == 130 and result.valid.sum() == WOMAN_LAST_FRAME + 1
    assert result.mocap_framerate == 30.0 and tuple(result.image_size) == (960, 540)
    assert result.focal_length == pytest.approx(pipeline.default_focal_length(960))
    assert "detect" in stages and len(set(stages)) >= 2
    errors, heights = reprojection_errors(result)
    assert np.mean(errors / heights) < REPROJECTION_BOUND, f"mean reprojection error {errors.mean():.1f} px"


def test_refine_changes_only_the_range_and_stays_continuous(tmp_path):
    first = tmp_path / "walk.npz"
    pipeline.run_video(EXCERPT, first, end=59, device="cpu")
    before = MotionResult.load(first)
    fixed_pose = before.poses[30].copy()
    fixed_pose[3 * 18: 3 * 18 + 3] += np.float32([0.0, 0.0, 0.3])  # bend the left elbow a little
    refined_path = tmp_path / "refined.npz"
    after = pipeline.refine_result(first, refined_path, 20, 40, fixed={30: fixed_pose}, device="cpu")
    outside = (before.frame_index < 20) | (before.frame_index > 40)
    assert np.array_equal(after.poses[outside], before.poses[outside])
    assert np.array_equal(after.trans[outside], before.trans[outside])
    assert np.allclose(after.poses[30], fixed_pose, atol=0.05)
    # the seams (19->20, 40->41) and the fixed frame (29->30->31) stay within the motion's usual
    # frame-to-frame steps: the largest joint rotation between frames (axis-angle itself jumps at 180°)
    steps, usual_steps = largest_rotation_steps(after.poses), largest_rotation_steps(before.poses)
    usual = np.percentile(usual_steps, 95)
    for frame in (19, 40, 29, 30):
        assert steps[frame] <= 2 * usual, f"step {frame}->{frame + 1}: {steps[frame]:.1f}° (usual {usual:.1f}°)"


def largest_rotation_steps(poses):
    """Per frame step, the largest rotation angle (degrees) of any joint relative to the frame before."""
    rot = axis_angle_to_matrix(poses.reshape(len(poses), -1, 3).astype(np.float64))
    relative = np.einsum("tjki,tjkl->tjil", rot[:-1], rot[1:])
    cos = np.clip((np.trace(relative, axis1=-2, axis2=-1) - 1) / 2, -1.0, 1.0)
    return np.degrees(np.arccos(cos)).max(axis=1)
