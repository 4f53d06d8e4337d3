"""``python -m backend serve`` as the add-on drives it: a real process, JSON lines over pipes."""
import os
import queue
import subprocess
import sys
import threading
import time

import pytest

from smplcore import protocol
from smplcore.result import MotionResult

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXCERPT = os.path.join(ROOT, "tests", "data", "walk_excerpt.mp4")


class Served:
    """A backend process; every stdout line must be a protocol event."""

    def __init__(self):
        self.process = subprocess.Popen([sys.executable, "-u", "-m", "backend", "serve"], cwd=ROOT, text=True,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self._start_readers()

    def _start_readers(self):
        self.events = queue.Queue()
        self.stray_lines = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self.process.stderr.read, daemon=True).start()  # keep the pipe drained

    def _read(self):
        for line in self.process.stdout:
            try:
                self.events.put(protocol.decode(line))
            except ValueError:
                self.stray_lines.append(line)

    def send(self, message):
        self.process.stdin.write(message if isinstance(message, str) else protocol.encode(message))
        self.process.stdin.flush()

    def next_event(self, timeout=10.0, where=lambda event: True):
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no matching event within {timeout} s")
            event = self.events.get(timeout=remaining)
            if where(event):
                return event

    def close(self):
        if self.process.poll() is None:
            self.send({"type": "shutdown"})
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
        assert not self.stray_lines, f"non-protocol output on stdout: {self.stray_lines[:3]}"


@pytest.fixture
def served():
    server = Served()
    yield server
    server.close()


def test_hello_names_the_protocol_version(served):
    served.send({"type": "hello"})
    hello = served.next_event()
    assert hello["type"] == "hello" and hello["protocol"] == protocol.PROTOCOL_VERSION


@pytest.mark.parametrize("line", [
    "this is not json\n",
    "[1, 2, 3]\n",
    '{"type": "teleport", "id": "x"}\n',
    '{"type": "run", "id": "r1"}\n',                                        # no video, no out
    '{"type": "run", "id": "r2", "video": 5, "out": "a.npz"}\n',           # wrong type
    '{"type": "refine", "id": "r3", "result": "a.npz", "out": "b.npz"}\n',  # no frame range
])
def test_malformed_requests_get_an_error_and_the_server_keeps_serving(served, line):
    served.send(line)
    error = served.next_event()
    assert error["type"] == "error" and error["code"] == "bad_request" and error["message"]
    served.send({"type": "hello"})
    assert served.next_event()["type"] == "hello"


def test_a_failing_job_reports_its_error_and_the_server_keeps_serving(served, tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    served.send({"type": "run", "id": "bad", "video": str(text), "out": str(tmp_path / "out.npz"),
                 "options": {"device": "cpu"}})
    # a heartbeat may come first when the machine is busy: it is not what this test is about
    error = served.next_event(timeout=60, where=lambda e: e["type"] != "heartbeat")
    assert error == {"type": "error", "id": "bad", "code": "unreadable_video", "message": error["message"],
                     "hint": error["hint"]} and error["hint"]
    served.send({"type": "hello"})
    assert served.next_event()["type"] == "hello"


def test_cancel_mid_run_stops_within_a_second_and_leaves_no_file(served, tmp_path):
    out = tmp_path / "walk.npz"
    served.send({"type": "run", "id": "walk", "video": EXCERPT, "out": str(out), "options": {"device": "cpu"}})
    served.next_event(timeout=60, where=lambda e: e["type"] == "progress" and e["done"] > 0)  # detecting
    sent = time.monotonic()
    served.send({"type": "cancel", "id": "walk"})
    cancelled = served.next_event(timeout=1.0, where=lambda e: e["type"] not in ("progress", "heartbeat"))
    assert cancelled == {"type": "cancelled", "id": "walk"} and time.monotonic() - sent < 1.0
    served.send({"type": "hello"})
    assert served.next_event(where=lambda e: e["type"] not in ("progress", "heartbeat"))["type"] == "hello"
    # the worker really stopped: the next job runs at once, and the cancelled job never reports
    served.send({"type": "run", "id": "next", "video": str(tmp_path / "missing.mp4"), "out": str(out)})
    follow_up = served.next_event(timeout=5, where=lambda e: e["type"] not in ("progress", "heartbeat"))
    assert follow_up["id"] == "next" and follow_up["code"] == "unreadable_video"
    assert os.listdir(tmp_path) == []


def test_shutdown_stops_a_running_job_and_exits(served, tmp_path):
    served.send({"type": "run", "id": "walk", "video": EXCERPT, "out": str(tmp_path / "walk.npz")})
    served.next_event(timeout=60, where=lambda e: e["type"] == "progress")
    served.send({"type": "shutdown"})
    assert served.process.wait(5) == 0
    assert os.listdir(tmp_path) == []


def test_run_then_refine_through_the_protocol(served, tmp_path):
    out = tmp_path / "walk.npz"
    served.send({"type": "run", "id": "walk", "video": EXCERPT, "out": str(out), "end": 59,
                 "options": {"device": "cpu"}})
    stages = set()
    while (event := served.next_event(timeout=300))["type"] in ("progress", "heartbeat"):
        assert event["id"] == "walk"
        if event["type"] == "progress":
            assert 0 <= event["done"] and (event["total"] == 0 or event["done"] <= event["total"])
            stages.add(event["stage"])
    assert event == {"type": "result", "id": "walk", "path": str(out)}, event
    assert "detect" in stages
    before = MotionResult.load(out)

    refined = tmp_path / "refined.npz"
    served.send({"type": "refine", "id": "fix", "result": str(out), "out": str(refined), "start": 20, "end": 40,
                 "fixed": {}, "options": {"device": "cpu"}})
    event = served.next_event(timeout=300, where=lambda e: e["type"] not in ("progress", "heartbeat"))
    assert event == {"type": "result", "id": "fix", "path": str(refined)}, event
    after = MotionResult.load(refined)
    assert (after.poses[:20] == before.poses[:20]).all() and (after.poses[41:] == before.poses[41:]).all()
