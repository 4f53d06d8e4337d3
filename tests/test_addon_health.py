"""The add-on's backend client faces a broken or frozen backend: it reports it, never waits forever."""
import os
import signal
import sys
import time

import blender_env
import pytest

from test_serve_health import _bare_python

VIDEO = os.path.join(blender_env.ROOT, "tests", "data", "walk_excerpt.mp4")


@pytest.fixture(scope="module")
def client():
    blender_env.fresh_scene()
    return sys.modules[f"{blender_env.ADDON_MODULE}.scorehmr_blender.client"]


def test_a_numpy_less_interpreter_is_reported_within_5_s(client, tmp_path):
    python = _bare_python(tmp_path / "venv")
    started = time.monotonic()
    backend = client.Backend(python)
    try:
        job = backend.run(VIDEO, str(tmp_path / "r.npz"), {"device": "cpu"})
        assert job.wait(timeout=5) == client.FAILED
        assert time.monotonic() - started < 5
        assert job.error.code == "missing_packages" and "numpy" in job.error.message
        assert "Create Backend Environment" in job.error.hint
        assert backend.hello["missing_packages"]
    finally:
        backend.shutdown()


def test_a_stopped_backend_is_reported_within_the_timeout(client, tmp_path):
    backend = client.Backend(blender_env.backend_python(), silence_timeout=4.0)
    try:
        job = backend.run(VIDEO, str(tmp_path / "r.npz"), {"device": "cpu"})
        deadline = time.monotonic() + 60
        while job.poll() == client.RUNNING and job.stage != "detect" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert job.stage == "detect", "the job never started detecting"
        os.kill(backend.process.pid, signal.SIGSTOP)
        stopped = time.monotonic()
        assert job.wait(timeout=30) == client.FAILED
        assert time.monotonic() - stopped < 4.0 + 1.0
        assert job.error.code == "backend_unresponsive" and "sent nothing for" in job.error.message
        backend.process.wait(5)  # abandon() killed it, stopped or not
    finally:
        if backend.alive():
            os.kill(backend.process.pid, signal.SIGKILL)
        backend.shutdown()


def test_a_killed_backend_hint_carries_no_third_party_log_lines(client, tmp_path):
    backend = client.Backend(blender_env.backend_python())
    try:
        job = backend.run(VIDEO, str(tmp_path / "r.npz"), {"device": "cpu"})
        deadline = time.monotonic() + 60
        while job.poll() == client.RUNNING and (job.stage != "detect" or job.done_count < 10) \
                and time.monotonic() < deadline:
            time.sleep(0.05)
        noise = [line for line in backend.stderr_tail if "absl" in line or line.startswith(("I0000", "W0000"))]
        os.kill(backend.process.pid, signal.SIGKILL)
        assert job.wait(timeout=10) == client.FAILED
        assert job.error.code == "backend_exited" and "killed (signal 9)" in job.error.message
        for line in noise:
            assert line.strip() not in job.error.hint
        assert "absl" not in job.error.hint and "I0000" not in job.error.hint and "W0000" not in job.error.hint
    finally:
        backend.shutdown()
