"""No job ever destroys a file it was not asked to write: `run`, `run-folder`, `serve`.

Each refusal happens before detection starts (seconds, not the whole run), so these are fast.
"""
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from backend import pipeline
from backend.errors import BackendError
from backend.job import JobContext
from backend.output import check_output
from smplcore import protocol
from smplcore.result import MotionResult
from test_serve import Served

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXCERPT = os.path.join(ROOT, "tests", "data", "walk_excerpt.mp4")
BAD_REQUEST = protocol.ERROR_EXIT_CODES["bad_request"]


def _backend(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "backend", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


def _video_copy(tmp_path):
    video = tmp_path / "clip.mp4"
    shutil.copy(EXCERPT, video)
    return video, video.read_bytes()


@pytest.mark.parametrize("how", ["same path", "hard link", "symlink", "relative path"])
def test_run_refuses_to_write_over_its_video(tmp_path, how):
    video, content = _video_copy(tmp_path)
    out = {"same path": video, "hard link": tmp_path / "linked.mp4", "symlink": tmp_path / "sym.npz",
           "relative path": os.path.relpath(video, ROOT)}[how]
    if how == "hard link":
        os.link(video, out)
    elif how == "symlink":
        os.symlink(video, out)
    done = _backend("run", str(video), "--out", str(out), "--overwrite")  # not even with --overwrite
    assert done.returncode == BAD_REQUEST, done.stderr
    assert "is the input file" in done.stderr and "Traceback" not in done.stderr
    assert video.read_bytes() == content


def test_run_refuses_an_existing_folder_and_a_stranger_file_at_once(tmp_path):
    video, _ = _video_copy(tmp_path)
    folder = tmp_path / "results"
    folder.mkdir()
    done = _backend("run", str(video), "--out", str(folder))
    assert done.returncode == BAD_REQUEST and "is an existing folder" in done.stderr
    assert "Traceback" not in done.stderr
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes")
    done = _backend("run", str(video), "--out", str(notes))
    assert done.returncode == BAD_REQUEST and "--overwrite" in done.stderr
    assert notes.read_text() == "my notes"


def test_check_output_rules(tmp_path):
    video, _ = _video_copy(tmp_path)
    notes = tmp_path / "notes.npz"
    notes.write_bytes(b"not a result")
    with pytest.raises(BackendError, match="not a ScoreHMR result"):
        check_output(notes, (video,))
    assert check_output(notes, (video,), overwrite=True) == str(notes)  # asked for: allowed
    # an earlier result is replaced without asking (re-running a job is normal)
    result = tmp_path / "earlier.npz"
    _tiny_result().save(result)
    assert check_output(result, (video,)) == str(result)
    # a missing folder is created, nothing else is touched
    assert check_output(tmp_path / "new" / "r.npz", (video,)) == str(tmp_path / "new" / "r.npz")
    assert (tmp_path / "new").is_dir()


def _tiny_result(t=4):
    return MotionResult(poses=np.zeros((t, 72), np.float32), trans=np.tile([0, 0, 3.0], (t, 1)).astype(np.float32),
                        betas=np.zeros(10, np.float32), mocap_framerate=30.0, frame_index=np.arange(t),
                        valid=np.ones(t, bool), keypoints_2d=np.zeros((t, 33, 3), np.float32), focal_length=800.0,
                        image_size=np.array([640, 480]), body_model="test:0")


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o002])
def test_result_files_follow_the_umask(tmp_path, umask):
    previous = os.umask(umask)
    try:
        _tiny_result().save(tmp_path / "r.npz")
    finally:
        os.umask(previous)
    assert os.stat(tmp_path / "r.npz").st_mode & 0o777 == 0o666 & ~umask


def test_a_replaced_result_keeps_its_mode(tmp_path):
    path = tmp_path / "r.npz"
    _tiny_result().save(path)
    os.chmod(path, 0o640)
    _tiny_result(5).save(path)
    assert os.stat(path).st_mode & 0o777 == 0o640 and MotionResult.load(path).num_frames == 5


def test_bad_inputs_fail_before_the_first_frame_is_detected(tmp_path):
    garbage = tmp_path / "model.pkl"
    garbage.write_bytes(b"\x80\x02garbage")
    not_torch = tmp_path / "prior.pt"
    not_torch.write_bytes(b"PK\x03\x04 not really")
    empty_video = tmp_path / "empty.mp4"
    empty_video.write_bytes(b"")
    cases = [(dict(body_model=str(garbage)), EXCERPT, "bad_body_model"),
             (dict(checkpoint=str(not_torch)), EXCERPT, "bad_checkpoint"),
             (dict(), str(empty_video), "unreadable_video")]
    for options, video, code in cases:
        stages = []
        with pytest.raises(BackendError) as caught:
            pipeline.run_video(video, tmp_path / "out.npz", device="cpu",
                               job=JobContext(lambda stage, done, total: stages.append(stage)), **options)
        assert caught.value.code == code
        assert "detect" not in stages, f"{code} was found only after detection started"


def test_a_checkpoint_that_fails_to_load_stops_detection(tmp_path):
    torch = pytest.importorskip("torch")
    wrong = tmp_path / "other.pt"
    torch.save({"something": torch.zeros(3)}, wrong)  # a real torch file, not a prior
    with pytest.raises(BackendError) as caught:
        pipeline.run_video(EXCERPT, tmp_path / "out.npz", device="cpu", checkpoint=str(wrong))
    assert caught.value.code == "bad_checkpoint"
    assert not (tmp_path / "out.npz").exists()


def test_run_folder_refuses_a_file_as_out_and_keeps_stranger_files(tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    shutil.copy(EXCERPT, videos / "clip.mp4")
    as_file = tmp_path / "out.txt"
    as_file.write_text("x")
    done = _backend("run-folder", str(videos), "--out", str(as_file))
    assert done.returncode == BAD_REQUEST and "is a file" in done.stderr and as_file.read_text() == "x"
    results = tmp_path / "results"
    results.mkdir()
    (results / "clip.npz").write_bytes(b"someone else's file")
    done = _backend("run-folder", str(videos), "--out", str(results))
    assert done.returncode == BAD_REQUEST and "not a ScoreHMR result" in done.stderr
    assert (results / "clip.npz").read_bytes() == b"someone else's file"


def test_serve_refuses_the_same_cases_against_the_final_path(tmp_path):
    video, content = _video_copy(tmp_path)
    folder = tmp_path / "folder"
    folder.mkdir()
    served = Served()
    try:
        for job_id, out in (("same", video), ("folder", folder)):
            served.send({"type": "run", "id": job_id, "video": str(video), "out": str(out),
                         "options": {"device": "cpu", "overwrite": True}})
            event = served.next_event(timeout=30, where=lambda e: e.get("id") == job_id)
            assert event["type"] == "error" and event["code"] == "bad_request", event
        served.send({"type": "run", "id": "typed", "video": str(video), "out": str(tmp_path / "x.npz"),
                     "options": {"overwrite": "yes"}})
        event = served.next_event(timeout=10, where=lambda e: e.get("id") == "typed")
        assert event["code"] == "bad_request" and "overwrite" in event["message"]
    finally:
        served.close()
    assert video.read_bytes() == content and folder.is_dir() and not os.listdir(folder)
