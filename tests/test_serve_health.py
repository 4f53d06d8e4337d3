"""``serve`` stays healthy: setup problems are named at ``hello``, the job thread survives a broken
interpreter, and a heartbeat covers the stages that report no progress."""
import os
import subprocess
import sys
import time


from smplcore import protocol
from test_serve import EXCERPT, ROOT, Served


def _bare_python(folder, broken_numpy=False):
    """A fresh venv without pip or packages; with ``broken_numpy`` a numpy that fails to import
    (found by name, as a half-installed package is)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True, timeout=60)
    python = os.path.join(folder, "bin", "python")
    if broken_numpy:
        site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                              capture_output=True, text=True, check=True).stdout.strip()
        os.makedirs(os.path.join(site, "numpy"))
        with open(os.path.join(site, "numpy", "__init__.py"), "w") as fh:
            fh.write("raise ImportError('numpy is half-installed')\n")
        for name in protocol.REQUIRED_PACKAGES[1:]:  # the rest "present", so jobs are accepted
            os.makedirs(os.path.join(site, name))
            open(os.path.join(site, name, "__init__.py"), "w").close()
    return python


class BareServed(Served):
    def __init__(self, python):
        self.process = subprocess.Popen([python, "-u", "-m", "backend", "serve"], cwd=ROOT, text=True,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self._start_readers()


def test_hello_names_missing_packages_and_the_fix(tmp_path):
    started = time.monotonic()
    served = BareServed(_bare_python(tmp_path / "venv"))
    try:
        served.send({"type": "hello", "id": "h"})
        hello = served.next_event(timeout=5, where=lambda e: e["type"] == "hello")
        assert {"numpy", "torch", "mediapipe"} <= set(hello["missing_packages"])
        error = served.next_event(timeout=5, where=lambda e: e["type"] == "error")
        assert error["code"] == "missing_packages" and "numpy" in error["message"]
        assert "Create Backend Environment" in error["hint"] and "requirements.txt" in error["hint"]
        served.send({"type": "run", "id": "j", "video": EXCERPT, "out": str(tmp_path / "r.npz")})
        error = served.next_event(timeout=5, where=lambda e: e.get("id") == "j")
        assert error["code"] == "missing_packages"
        assert time.monotonic() - started < 5 + 2  # venv creation included
    finally:
        served.close()


def test_the_job_thread_survives_a_broken_numpy(tmp_path):
    """numpy is found but fails to import: each job gets an error event (the old error path
    imported numpy and died, leaving every job waiting forever)."""
    served = BareServed(_bare_python(tmp_path / "venv", broken_numpy=True))
    try:
        for job_id in ("first", "second"):
            served.send({"type": "run", "id": job_id, "video": EXCERPT, "out": str(tmp_path / f"{job_id}.npz")})
            event = served.next_event(timeout=10, where=lambda e: e.get("id") == job_id)
            assert event["type"] == "error" and event["code"] == "missing_packages", event
            assert "this is a bug" not in event["hint"] and "numpy" in event["message"]
        served.send({"type": "hello"})
        assert served.next_event(timeout=5, where=lambda e: e["type"] == "hello")["missing_packages"] == []
    finally:
        served.close()


def test_heartbeat_fills_the_silent_stages(tmp_path):
    served = Served()
    try:
        served.send({"type": "run", "id": "j", "video": EXCERPT, "out": str(tmp_path / "r.npz"),
                     "end": 40, "options": {"device": "cpu"}})
        times, kinds = [time.monotonic()], []
        while True:
            event = served.next_event(timeout=120, where=lambda e: e.get("id") == "j")
            times.append(time.monotonic())
            kinds.append(event["type"])
            if event["type"] in ("result", "error"):
                break
        assert kinds[-1] == "result", kinds
        gaps = [b - a for a, b in zip(times, times[1:])]
        assert max(gaps) < protocol.HEARTBEAT_INTERVAL_S + 1.5, max(gaps)
    finally:
        served.close()
