"""People are kept through gaps and every person can be written (real MediaPipe on real video)."""
import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from backend import pipeline
from backend.errors import BackendError
from smplcore.protocol import ERROR_EXIT_CODES
from test_backend_video import write_video
from smplcore.result import MotionResult

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXCERPT = os.path.join(ROOT, "tests", "data", "walk_excerpt.mp4")
WOMAN_LAST_FRAME = 100  # she walks out of the picture after this frame


def _frames():
    capture = cv2.VideoCapture(EXCERPT)
    frames = []
    while (frame := capture.read()[1]) is not None:
        frames.append(frame)
    return frames


@pytest.fixture(scope="module")
def gap_clip(tmp_path_factory):
    """50 frames of the woman, 60 blank frames (2 s: longer than motion prediction bridges), 50 more."""
    frames = _frames()
    blank = [np.zeros_like(frames[0])] * 60
    return write_video(tmp_path_factory.mktemp("gap") / "gap.mp4", frames[:50] + blank + frames[50:100])


def test_a_person_is_recognised_after_a_gap(gap_clip):
    info, detections, people = pipeline.detect_people(gap_clip)
    person_frames = np.r_[0:50, 110:160]
    assert detections.found[person_frames].all() and not detections.found[50:110].any()
    main = people[0]
    assert main.valid[person_frames].sum() == 100, "every person frame is kept in the main track"
    assert len(main.tracklets) == 2 and not main.valid[50:110].any()


def test_the_maximum_gap_is_configurable(gap_clip):
    _, _, people = pipeline.detect_people(gap_clip, max_gap=1.0)  # shorter than the 2 s gap
    assert [int(p.valid.sum()) for p in people] == [50, 50]


def test_different_people_are_not_merged_by_looks():
    """One pass: MediaPipe follows the woman until she walks out, then the man: two persons."""
    _, detections, people = pipeline.detect_people(EXCERPT)
    woman, man = people[0], people[1]
    assert woman.valid[:WOMAN_LAST_FRAME + 1].sum() >= 95 and not woman.valid[WOMAN_LAST_FRAME + 2:].any()
    assert man.valid[WOMAN_LAST_FRAME + 2:].sum() >= 20 and not man.valid[:WOMAN_LAST_FRAME].any()
    assert detections.appearance[woman.valid].sum(axis=1).min() > 0.99, "colours measured on every frame"


def _backend(*args):
    return subprocess.run([sys.executable, "-m", "backend", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)


def test_person_all_writes_both_people_and_the_index(tmp_path):
    out = tmp_path / "walk.npz"
    done = _backend("run", EXCERPT, "--out", str(out), "--person", "all", "--device", "cpu")
    assert done.returncode == 0, done.stderr[-3000:]
    index = json.loads((tmp_path / "walk.persons.json").read_text())
    assert index["format"] == "scorehmr-persons" and index["version"] == 1
    assert index["video"] == "walk_excerpt.mp4" and index["image_size"] == [960, 540] and index["fps"] == 30.0
    persons = index["persons"]
    assert [p["file"] for p in persons] == ["walk.npz", "walk.person1.npz"]
    woman, man = persons
    assert woman["main"] and not man["main"] and woman["person"] == 0 and man["person"] == 1
    assert woman["first_frame"] == 0 and woman["last_frame"] >= WOMAN_LAST_FRAME - 1 and woman["frames"] >= 95
    assert man["last_frame"] >= 120 and man["frames"] >= 20
    assert man["mean_box"][0] > woman["mean_box"][2], "the man is to the right of the woman's mean box"
    main, other = MotionResult.load(out), MotionResult.load(tmp_path / "walk.person1.npz")
    assert main.num_frames == 130 and int(main.valid.sum()) == woman["frames"]
    assert other.frame_index[0] == man["first_frame"] and other.frame_index[-1] == man["last_frame"]
    assert int(other.valid.sum()) == man["frames"]
    # one static camera, one world: the woman's floor; the man (a jump off a box, planted on one
    # frame) has no level of his own and is placed in it as solved
    assert main.cam_to_world is not None and np.array_equal(other.cam_to_world, main.cam_to_world)
    assert main.world_note == "" and "placed in its world as solved" in other.world_note


def test_person_number_that_does_not_exist_is_a_bad_request(gap_clip, tmp_path):
    done = _backend("run", gap_clip, "--out", str(tmp_path / "r.npz"), "--person", "3", "--device", "cpu")
    assert done.returncode == ERROR_EXIT_CODES["bad_request"] and "there is no person 3" in done.stderr
    with pytest.raises(BackendError, match="main, all or a person number"):
        pipeline.parse_person("everyone")


def test_serve_person_all_publishes_every_file_under_its_final_name(tmp_path):
    from test_serve import Served

    served = Served()
    try:
        served.send({"type": "run", "id": "all", "video": EXCERPT, "out": str(tmp_path / "walk.npz"),
                     "options": {"device": "cpu", "person": "all"}})
        event = served.next_event(timeout=600, where=lambda e: e["type"] in ("result", "error"))
    finally:
        served.close()
    assert event["type"] == "result", event
    assert event["index"] == str(tmp_path / "walk.persons.json")
    assert sorted(os.listdir(tmp_path)) == ["walk.npz", "walk.person1.npz", "walk.persons.json"]
    index = json.loads((tmp_path / "walk.persons.json").read_text())
    assert [p["file"] for p in index["persons"]] == ["walk.npz", "walk.person1.npz"]


def test_person_files_obey_the_output_rules(tmp_path):
    """Another file where a further person's file or the index would go is not replaced; an
    earlier index is."""
    from backend.output import check_output, index_path, person_path

    out = str(tmp_path / "walk.npz")
    (tmp_path / "walk.persons.json").write_text('{"format": "scorehmr-persons", "version": 1, "persons": []}')
    assert check_output(index_path(out)) == str(tmp_path / "walk.persons.json")
    (tmp_path / "walk.person1.npz").write_text("my notes")
    with pytest.raises(BackendError, match="not a ScoreHMR result"):
        check_output(person_path(out, 1))
    (tmp_path / "walk.persons.json").write_text("{}")
    with pytest.raises(BackendError, match="not a ScoreHMR result"):
        check_output(index_path(out))
