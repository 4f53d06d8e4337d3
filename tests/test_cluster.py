"""``run-folder --cluster`` on a real local Ray cluster (2 CPUs, loopback only) and real clips.

Three 20-frame clips cut from ``tests/data/walk_excerpt.mp4`` plus one file that is not a video.
The cluster run must write the local mode's results, report the broken file once, survive one
worker killed in the middle of a clip, and a second run must skip every clip that is done.
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import numpy as np
import pytest

from backend.cluster import ray_address
from backend.errors import BackendError
from smplcore.protocol import ERROR_EXIT_CODES
from tools.clips import cut_clip

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXCERPT = os.path.join(ROOT, "tests", "data", "walk_excerpt.mp4")
CLIP_STARTS = (0, 30, 60)  # the walking woman is in view on frames 0..100
CLIP_FRAMES = 20
# Ray picks the machine's network address unless told this is a one-machine setup: keep every
# socket of the test cluster on loopback
LOOPBACK_ENV = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}
WORKER_TITLE = "ray::ClipWorker.run_clip"  # Ray's process title of a worker inside run_clip


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def ray_cluster():
    """A Ray head with 2 CPUs on 127.0.0.1, started for this module and stopped after it."""
    port = _free_port()
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths must fit 107 bytes
    log = open(os.path.join(temp, "head.log"), "w+")
    ray = os.path.join(os.path.dirname(sys.executable), "ray")
    head = subprocess.Popen(
        [ray, "start", "--head", "--block", "--node-ip-address=127.0.0.1", f"--port={port}", "--num-cpus=2",
         "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={temp}"],
        stdout=log, stderr=subprocess.STDOUT, env=LOOPBACK_ENV, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while "Ray runtime started" not in open(log.name).read():
            assert head.poll() is None and time.monotonic() < deadline, open(log.name).read()
            time.sleep(0.5)
        yield {"address": f"ray://127.0.0.1:{port}", "head_pid": head.pid}
    finally:
        head.send_signal(signal.SIGTERM)  # `ray start --block` stops its processes on SIGTERM
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)  # the session we started for it, nothing else
            head.wait()
        log.close()
        shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture(scope="module")
def clip_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clips")
    for number, start in enumerate(CLIP_STARTS):
        cut_clip(EXCERPT, folder / f"walk{number}.mp4", start, CLIP_FRAMES)
    (folder / "broken.mp4").write_text("not a video")
    return folder


def _run_folder(folder, out, *extra, **popen):
    return subprocess.Popen([sys.executable, "-m", "backend", "run-folder", str(folder), "--out", str(out),
                             "--device", "cpu", *extra], cwd=ROOT, env=LOOPBACK_ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **popen)


@pytest.fixture(scope="module")
def local_results(clip_folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("local")
    stdout, stderr = _run_folder(clip_folder, out).communicate(timeout=600)
    assert "3 done, 0 skipped (already done), 1 failed" in stderr, stderr
    return out


def _descendants(pid) -> set[int]:
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    parents[int(entry)] = int(stat.read().rsplit(")", 1)[1].split()[1])
            except OSError:  # gone meanwhile
                pass
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _busy_worker(head_pid):
    """A worker of our cluster that is in the middle of a clip, or None."""
    for pid in _descendants(head_pid):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                if cmdline.read().startswith(WORKER_TITLE.encode()):
                    return pid
        except OSError:
            pass
    return None


def _assert_same_results(expected_folder, actual_folder, names):
    for name in names:
        with np.load(expected_folder / name) as expected, np.load(actual_folder / name) as actual:
            assert sorted(expected.files) == sorted(actual.files)
            for key in expected.files:
                if expected[key].dtype.kind == "f":
                    np.testing.assert_allclose(actual[key], expected[key], rtol=0, atol=1e-5, err_msg=f"{name}: {key}")
                else:
                    assert np.array_equal(actual[key], expected[key]), f"{name}: {key}"


def test_cluster_matches_local_survives_a_lost_worker_and_resumes(ray_cluster, clip_folder, local_results, tmp_path):
    out = tmp_path / "results"
    run = _run_folder(clip_folder, out, "--cluster", ray_cluster["address"])
    killed = None
    while run.poll() is None and killed is None:
        killed = _busy_worker(ray_cluster["head_pid"])
        if killed is not None:
            os.kill(killed, signal.SIGKILL)
        time.sleep(0.2)
    stdout, stderr = run.communicate(timeout=600)
    assert killed is not None, f"no worker was caught inside a clip:\n{stderr}"
    assert run.returncode == ERROR_EXIT_CODES["unreadable_video"], stderr
    assert stderr.count("worker lost") == 1 and "retrying the clip once" in stderr, stderr
    assert stderr.count("broken.mp4: error:") == 1 and "broken.mp4: hint:" in stderr, stderr
    assert "3 done, 0 skipped (already done), 1 failed" in stderr, stderr
    names = [f"walk{number}.npz" for number in range(len(CLIP_STARTS))]
    assert sorted(name for name in os.listdir(out) if name.endswith(".npz") and not name.startswith("tmp")) == names
    _assert_same_results(local_results, out, names)

    written = {name: os.stat(out / name).st_mtime_ns for name in names}
    stdout, stderr = _run_folder(clip_folder, out, "--cluster", ray_cluster["address"]).communicate(timeout=600)
    for name in names:
        assert f"{name[:-4]}.mp4: skipped" in stderr, stderr
    assert "0 done, 3 skipped (already done), 1 failed" in stderr, stderr
    assert {name: os.stat(out / name).st_mtime_ns for name in names} == written


def test_cluster_address_forms():
    assert ray_address("ray") == ray_address("ray://auto") == "auto"
    assert ray_address("ray://head.studio.lan:6379") == "head.studio.lan:6379"
    for wrong in ("spark://head:7077", "ray://head", "ray://:6379", "ray:6379"):
        with pytest.raises(BackendError) as caught:
            ray_address(wrong)
        assert caught.value.code == "bad_request"


def test_cluster_without_ray_says_how_to_install_it(clip_folder, tmp_path):
    # this interpreter with Ray made unimportable, as in the default install
    code = ("import sys; sys.modules['ray'] = None; from backend.cli import main; "
            f"sys.exit(main(['run-folder', {str(clip_folder)!r}, '--out', {str(tmp_path)!r}, '--cluster', 'ray']))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == ERROR_EXIT_CODES["missing_packages"], done.stderr
    assert "needs Ray, which is not installed" in done.stderr
    assert "pip install -r" in done.stderr and "requirements-cluster.txt" in done.stderr


def test_cluster_that_is_not_there_is_reported_at_once(clip_folder, tmp_path):
    run = _run_folder(clip_folder, tmp_path, "--cluster", f"ray://127.0.0.1:{_free_port()}")
    stdout, stderr = run.communicate(timeout=120)
    assert run.returncode == ERROR_EXIT_CODES["bad_request"], stderr
    assert "error: cannot reach a Ray cluster at 127.0.0.1:" in stderr and "ray start --head" in stderr, stderr
    assert os.listdir(tmp_path) == []
