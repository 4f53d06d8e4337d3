"""Phone footage: rotation metadata applied, variable frame rates resampled to a constant rate.

The clips are made here from the bundled video with the ffmpeg binary of imageio-ffmpeg.
"""
import os
import subprocess

import cv2
import numpy as np
import pytest

from backend import pipeline, video
from smplcore import rotations
from smplcore.result import MotionResult
from smplcore.skeleton import LANDMARK_INDEX

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXCERPT = os.path.join(ROOT, "tests", "data", "walk_excerpt.mp4")
imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")


def _ffmpeg(*args):
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-y", *args], check=True, timeout=120)


@pytest.fixture(scope="module")
def portrait_clip(tmp_path_factory):
    """A 304x540 portrait view of the woman, stored sideways (540x304) with a rotation tag, as
    phones record portrait video."""
    folder = tmp_path_factory.mktemp("portrait")
    stored = str(folder / "stored.mp4")
    _ffmpeg("-i", EXCERPT, "-frames:v", "45", "-vf", "crop=304:540:300:0,transpose=1", "-c:v", "libx264",
            "-pix_fmt", "yuv420p", stored)
    tagged = str(folder / "portrait.mp4")
    _ffmpeg("-display_rotation", "90", "-i", stored, "-c", "copy", tagged)
    return stored, tagged


@pytest.fixture(scope="module")
def vfr_clip(tmp_path_factory):
    """60 frames at 30 fps, then 70 frames held twice as long (15 fps): a variable frame rate."""
    path = str(tmp_path_factory.mktemp("vfr") / "vfr.mp4")
    _ffmpeg("-i", EXCERPT, "-vf", "setpts='if(lt(N,60),N/30,2+(N-60)/15)/TB'", "-fps_mode", "passthrough",
            "-c:v", "libx264", "-pix_fmt", "yuv420p", path)
    return path


def test_rotation_metadata_gives_upright_frames_of_the_displayed_size(portrait_clip):
    stored, tagged = portrait_clip
    assert (video.probe(stored).width, video.probe(stored).height) == (540, 304)  # as stored: on its side
    info = video.probe(tagged)
    assert (info.width, info.height) == (304, 540) and info.rotation in (90, 270)
    _, frame = next(video.iter_frames(tagged, 10))
    assert frame.shape[:2] == (540, 304)
    original = cv2.VideoCapture(EXCERPT)
    original.set(cv2.CAP_PROP_POS_FRAMES, 10)
    upright = original.read()[1][:, 300:604]
    assert np.abs(frame.astype(float) - upright).mean() < 12, "decoded frame matches the upright original"
    bpy = pytest.importorskip("bpy")  # Blender shows the clip at the same displayed size
    clip = bpy.data.movieclips.load(tagged)
    try:
        assert tuple(clip.size) == (info.width, info.height)
    finally:
        bpy.data.movieclips.remove(clip)


def test_portrait_clip_is_solved_upright(portrait_clip, tmp_path):
    _, tagged = portrait_clip
    result = pipeline.run_video(tagged, tmp_path / "portrait.npz", device="cpu")
    assert result.image_size.tolist() == [304, 540]
    assert result.focal_length == pytest.approx(pipeline.default_focal_length(304))
    keypoints = result.keypoints_2d[result.valid]
    nose, hip = keypoints[:, LANDMARK_INDEX["nose"], 1], keypoints[:, LANDMARK_INDEX["left_hip"], 1]
    assert np.all(nose < hip), "head above hips in the image"
    # the body's up axis (SMPL +y) in the OpenCV camera frame points up the image (-y)
    orient = rotations.axis_angle_to_matrix(result.poses[result.valid, :3].astype(np.float64))
    up = orient[:, :, 1]
    assert np.median(up[:, 1]) < -0.8, np.median(up, axis=0)


def test_variable_frame_rate_clip_is_resampled_to_a_constant_rate(vfr_clip, tmp_path):
    capture = cv2.VideoCapture(vfr_clip)
    times = []
    while capture.grab():
        times.append(capture.get(cv2.CAP_PROP_POS_MSEC))
    times = np.array(times)
    result = pipeline.run_video(vfr_clip, tmp_path / "vfr.npz", device="cpu")
    assert result.mocap_framerate == pytest.approx(30.0), "the clip's base rate, not OpenCV's average (19.9)"
    step = 1000.0 / result.mocap_framerate
    grid = result.frame_index
    assert np.array_equal(grid, np.arange(grid[0], grid[0] + len(grid))), "one row per constant-rate frame"
    assert abs(grid[-1] * step - times[-1]) <= step
    source = MotionResult.load(tmp_path / "vfr.npz").extras["source_frame"]
    # each key shows the frame on screen at its time (within half a frame)
    shown = times[source]
    assert np.all(shown <= grid * step + 0.5 * step + 1e-6)
    later = np.minimum(source + 1, len(times) - 1)
    assert np.all((times[later] > grid * step + 0.5 * step - 1e-6) | (source == len(times) - 1))
    # Blender plays the clip at the same rate and length, so key k shows the frame the video shows
    bpy = pytest.importorskip("bpy")
    clip = bpy.data.movieclips.load(vfr_clip)
    try:
        assert clip.fps == pytest.approx(result.mocap_framerate)
        # Blender's length ends where the last frame starts; the grid also keys that last frame
        assert clip.frame_duration <= len(grid) <= clip.frame_duration + 1
    finally:
        bpy.data.movieclips.remove(clip)


def test_constant_rate_leaves_regular_timing_alone():
    assert video.constant_rate(np.arange(100) * 1000 / 30, 30.0) is None
    rows, grid, fps = video.constant_rate(np.r_[np.arange(10) * 100.0, 1000 + np.arange(10) * 50.0])
    assert fps == 20.0  # the base rate: its shortest regular interval
    assert grid.tolist() == list(range(0, 30)) and rows[0] == 0 and rows[-1] == 19
    assert rows.tolist() == [k // 2 for k in range(20)] + list(range(10, 20))  # 100 ms frames twice, then once
