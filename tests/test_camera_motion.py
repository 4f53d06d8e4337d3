"""Moving-camera detection on real footage: the bundled clip is static; a crop window panned
over it is a panning camera, and the CLI says so and keeps the camera frame."""
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from backend import camera_motion, video
from smplcore.result import MotionResult

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLIP = os.path.join(ROOT, "tests", "data", "walk_excerpt.mp4")


def panned(path, pixels_per_frame):
    """The bundled clip seen through a 640x480 window sliding right by ``pixels_per_frame``."""
    writer = cv2.VideoWriter(os.fspath(path), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (640, 480))
    for number, frame in video.iter_frames(CLIP):
        x = int(round(min(frame.shape[1] - 640, pixels_per_frame * number)))
        writer.write(frame[30:510, x:x + 640])
    writer.release()
    return path


def thumbnails_of(path):
    """The frames the measurement keeps, from one decoding pass (as detection offers them)."""
    thumbnails = camera_motion.Thumbnails(0, video.probe(path).frame_count)
    for number, frame in video.iter_frames(path):
        thumbnails.offer(number, frame)
    return thumbnails


@pytest.mark.parametrize("speed", [0.5, 2.0])
def test_a_panning_camera_is_detected(tmp_path, speed):
    path = panned(tmp_path / "pan.mp4", speed)
    motion = camera_motion.measure(thumbnails_of(path), {})
    assert motion.moving and motion.pairs >= 30
    assert motion.drift == pytest.approx(speed * 129 / 640, rel=0.3)   # the pan, as a share of the width


def test_the_bundled_clip_is_a_static_camera():
    motion = camera_motion.measure(thumbnails_of(CLIP), {})
    assert not motion.moving and motion.drift < 0.005


def test_thumbnails_of_a_stream_of_unknown_length_stay_few_and_span_it():
    thumbnails = camera_motion.Thumbnails(first=10, count=None)
    image = np.zeros((90, 160, 3), np.uint8)
    for number in range(10, 5010):
        thumbnails.offer(number, image)
    pairs = thumbnails.pairs()
    assert len(thumbnails.images) <= 4 * camera_motion.MAX_PAIRS
    assert len(pairs) >= camera_motion.MAX_PAIRS // 2 and pairs[0][0] == 10 and pairs[-1][0] > 4000
    assert all(b - a == camera_motion.GAP and b in thumbnails.images for a, b in pairs)


def test_cli_warns_and_keeps_the_camera_frame_on_a_panning_camera(tmp_path):
    path = panned(tmp_path / "pan.mp4", 2.0)
    out = tmp_path / "pan.npz"
    run = subprocess.run([sys.executable, "-m", "backend", "run", os.fspath(path), "--out", os.fspath(out)],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    assert "warning: the camera moves" in run.stderr
    result = MotionResult.load(out)
    assert result.cam_to_world is None and "camera moves" in result.world_note
