"""Hands on real footage: the bundled walking clip through the real backend with ``hands=True``.

In ``tests/data/walk_excerpt.mp4`` the tracked woman walks right to left, her left hand on the
camera side and her right hand mostly behind her body (see data/README.md).
"""
import os

import numpy as np
import pytest
import torch

from backend import hand_detect, pipeline
from backend.job import JobContext
from backend.hand_model import HandModel
from smplcore.result import MotionResult

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXCERPT = os.path.join(ROOT, "tests", "data", "walk_excerpt.mp4")


@pytest.fixture(scope="module")
def hands_result(tmp_path_factory):
    out = tmp_path_factory.mktemp("hands") / "walk_hands.npz"
    stages = []
    pipeline.run_video(EXCERPT, out, device="cpu", hands=True,
                       job=JobContext(lambda stage, done, total: stages.append(stage)))
    return MotionResult.load(out), stages


def test_hands_are_found_only_where_the_person_is(hands_result):
    result, stages = hands_result
    assert "hands" in stages
    assert result.hand_poses.shape == (130, 90) and result.hand_valid.shape == (130, 2)
    assert not result.hand_valid[~result.valid].any()        # no person, no hand: never invented
    assert result.hand_valid[:, 0].sum() >= 20               # her camera-side (left) hand is seen
    # frames without a hand keep a flat hand, and the fitted fingers respect the joint limits
    assert np.all(result.hand_poses.reshape(130, 2, 45)[~result.hand_valid] == 0.0)
    model = HandModel(betas=result.betas)
    for h, side in enumerate(hand_detect.SIDES):
        aa = torch.as_tensor(result.hand_poses.reshape(130, 2, 15, 3)[result.hand_valid[:, h], h])
        anat = model[side].from_axis_angle(aa)
        violation = model[side].limit_violation(anat)
        assert violation.numel() == 0 or float(violation.max()) < 1e-4


def test_rows_of_one_decoded_frame_share_its_hands_and_rows_without_the_person_get_none():
    """A resampled variable-rate clip repeats decoded frames: their rows get that frame's hands,
    exactly as one row would; a row without the person gets no hand, and tracking restarts after it."""
    info, detections, keypoints, valid = pipeline.detect_person(EXCERPT, start=0, end=39)
    assert valid.all()
    once = hand_detect.detect_hands(info, detections.frame_index, keypoints, valid, workers=1)
    assert once.found[:, 0].sum() >= 10                      # her camera-side hand, in most frames
    # two parts detected side by side (the later one tracking from a few frames early) give the
    # hands of one pass
    halves = hand_detect.detect_hands(info, detections.frame_index, keypoints, valid, workers=2)
    for name in ("keypoints", "depth", "world", "found"):
        np.testing.assert_array_equal(getattr(halves, name), getattr(once, name))
    repeated = np.repeat(np.arange(len(valid)), 1 + np.arange(len(valid)) % 2)   # every other frame twice
    twice = hand_detect.detect_hands(info, detections.frame_index[repeated], keypoints[repeated], valid[repeated])
    for name in ("keypoints", "depth", "world", "found"):
        np.testing.assert_array_equal(getattr(twice, name), getattr(once, name)[repeated])
    gap = valid.copy()
    gap[20] = False
    with_gap = hand_detect.detect_hands(info, detections.frame_index, keypoints, gap)
    assert not with_gap.found[20].any() and not with_gap.keypoints[20].any()
    np.testing.assert_array_equal(with_gap.found[:20], once.found[:20])


def test_pose_crops_follow_the_wrist_and_point_along_the_hand():
    pose = np.zeros((33, 3))
    pose[11], pose[12], pose[23], pose[24] = (520, 100, 1), (480, 100, 1), (515, 300, 1), (485, 300, 1)
    pose[15] = (600, 250, 1)                                # left wrist; knuckles 40 px straight below
    pose[17], pose[19] = (590, 290, 1), (610, 290, 1)
    crop = hand_detect.crop_from_pose(pose, "left")
    assert crop.cx == pytest.approx(600) and crop.cy > 250 + 40
    assert crop.rotation == pytest.approx(np.pi, abs=1e-6) or crop.rotation == pytest.approx(-np.pi, abs=1e-6)
    assert crop.size > 3 * 40


def test_hands_is_a_run_option_of_the_cli_and_the_protocol():
    from backend.cli import build_parser
    from backend.errors import BackendError
    from backend.job_commands import solve_options
    from backend.serve import parse_job

    args = build_parser().parse_args(["run", EXCERPT, "--out", "x.npz", "--hands"])
    assert solve_options(args)["hands"] is True
    assert solve_options(build_parser().parse_args(["run", EXCERPT, "--out", "x.npz"]))["hands"] is False
    request = {"type": "run", "id": "a", "video": EXCERPT, "out": "x.npz"}
    assert parse_job(dict(request, options={"hands": True})).args["hands"] is True
    assert parse_job(request).args["hands"] is False
    with pytest.raises(BackendError, match="hands"):
        parse_job(dict(request, options={"hands": "yes"}))
