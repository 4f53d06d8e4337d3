"""First run: only an interpreter that really has the backend's packages counts; Create asks,
needs online access, removes what it did not finish; Verify reads doctor's JSON from stdout and
checks the chosen body model and checkpoint."""
import os
import shutil
import subprocess
import sys
import time

import blender_env
import bpy
import pytest


def _real_python311():
    """The directory of a real Python 3.11 (what Create builds the venv with), found before the
    tests empty PATH."""
    found = shutil.which("python3.11")
    if not found:
        return ""
    real = subprocess.run([found, "-c", "import sys; print(sys.executable)"], capture_output=True, text=True)
    return os.path.dirname(real.stdout.strip())


PYTHON311_DIR = _real_python311()


def _core(name):
    blender_env.install_addon()
    return blender_env.addon_module(f"scorehmr_blender.{name}")


@pytest.fixture()
def prefs(monkeypatch, tmp_path):
    blender_env.fresh_scene()
    prefs = bpy.context.preferences.addons[blender_env.ADDON_MODULE].preferences
    prefs.python_path = ""
    prefs.checkpoint_path = prefs.body_model_path = ""
    monkeypatch.setenv("PATH", str(tmp_path / "empty-path"))  # no Python 3.11 on PATH
    _core("backend_env").forget_probes()
    yield prefs
    bpy.context.preferences.system.use_online_access = False
    prefs.python_path = prefs.checkpoint_path = ""
    venv = _core("preferences").venv_dir()
    shutil.rmtree(venv, ignore_errors=True)


def _bare_venv(path):
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    return str(path / "bin" / "python")


def test_only_a_python_with_the_backend_packages_is_a_backend(prefs, tmp_path):
    env = _core("backend_env")
    assert _core("preferences").find_backend(prefs) is None
    for fake in ("/usr/bin/true", "/bin/sh"):
        probe = env.probe(fake)
        assert not probe.ok and "not a working Python" in probe.summary
    bare = env.probe(_bare_venv(tmp_path / "bare"))
    assert not bare.ok and "torch" in bare.missing and "cv2" in bare.missing
    good = env.probe(blender_env.backend_python())
    assert good.ok and good.version.startswith("3.")
    # a chosen interpreter is used as chosen, and says what it lacks
    prefs.python_path = "/usr/bin/true"
    with pytest.raises(RuntimeError, match="Backend not set up: /usr/bin/true is not a working Python"):
        bpy.ops.scorehmr.import_video(filepath=os.path.join(blender_env.ROOT, "tests", "data", "walk_excerpt.mp4"))


def test_probes_are_cached_and_a_partial_venv_is_never_picked(prefs, tmp_path):
    env = _core("backend_env")
    python = blender_env.backend_python()
    started = time.monotonic()
    env.probe(python)
    first = time.monotonic() - started
    started = time.monotonic()
    for _ in range(100):
        env.probe(python)
    assert (time.monotonic() - started) < first  # 100 cached answers cost less than one probe
    assert env.cached_probe(python).ok
    # a venv Create did not finish (no completion marker) is not a candidate, even if it works
    venv = _core("preferences").venv_dir()
    os.makedirs(os.path.join(venv, "bin"))
    with open(os.path.join(venv, "bin", "python"), "w") as fh:  # a working interpreter in that place
        fh.write(f'#!/bin/sh\nexec "{python}" "$@"\n')
    os.chmod(os.path.join(venv, "bin", "python"), 0o755)
    assert env.venv_python(venv) not in env.candidates(venv)
    env.mark_complete(venv)
    assert env.candidates(venv)[0] == env.venv_python(venv)
    assert _core("preferences").find_backend(prefs).python == env.venv_python(venv)


def test_verify_reads_stdout_json_and_checks_the_chosen_files(prefs, tmp_path):
    prefs.python_path = blender_env.backend_python()
    assert bpy.ops.scorehmr.verify_backend() == {"FINISHED"}
    report = prefs.doctor_report
    assert "Body model: ok" in report and "MediaPipe pose: ok" in report and "Problem" not in report
    prefs.checkpoint_path = str(tmp_path / "missing.pt")
    with pytest.raises(RuntimeError, match="checkpoint"):
        bpy.ops.scorehmr.verify_backend()
    assert "Problem: checkpoint" in prefs.doctor_report and str(tmp_path / "missing.pt") in prefs.doctor_report
    prefs.checkpoint_path = ""
    prefs.python_path = "/usr/bin/true"  # exits 0 and prints nothing: not a verified backend
    with pytest.raises(RuntimeError, match="Backend not set up"):
        bpy.ops.scorehmr.verify_backend()


def test_read_doctor_never_takes_log_lines_for_the_report():
    env = _core("backend_env")
    lines, problems = env.read_doctor("INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n{}")
    assert problems and not lines


def test_create_needs_online_access_and_removes_a_cancelled_venv(prefs, monkeypatch):
    bpy.context.preferences.system.use_online_access = False
    with pytest.raises(RuntimeError, match="Online access is off"):
        bpy.ops.scorehmr.create_backend_env()
    bpy.context.preferences.system.use_online_access = True
    if not PYTHON311_DIR:
        pytest.skip("no Python 3.11 to build a venv with")
    monkeypatch.setenv("PATH", PYTHON311_DIR)
    driver = blender_env.ModalDriver("create_backend_env")
    assert driver.op.start_modal(bpy.context) == {"RUNNING_MODAL"}
    venv = _core("preferences").venv_dir()
    while driver.task.step_index < 1 and driver.task.state == "running":  # the venv exists from step 2 on
        time.sleep(0.05)
    assert os.path.isdir(venv)
    driver.tick("ESC", "PRESS")
    for _ in range(2000):
        if driver.tick() != {"PASS_THROUGH"}:
            break
        time.sleep(0.05)
    assert driver.task.state == "cancelled" and not os.path.exists(venv)
    assert _core("preferences").find_backend(prefs) is None


def test_install_plan_skips_mediapipe_extras():
    env = _core("backend_env")
    steps = env.install_steps("python3.11", "/tmp/v", os.path.join(blender_env.ROOT, "requirements.txt"))
    assert abs(sum(w for _, w, _ in steps) - 1.0) < 1e-9
    argv = " ".join(" ".join(a) for _, _, a in steps)
    assert "--no-deps mediapipe==" in argv and "jax" not in argv
    torch_step = steps[2][2]
    assert any(a.startswith("torch==") for a in torch_step)
    if sys.platform != "darwin":  # without an NVIDIA GPU the 192 MB CPU build, not 2.8 GB of CUDA
        assert torch_step[-2:] == ["--index-url", env.TORCH_CPU_INDEX]
    cuda_steps = env.install_steps("python3.11", "/tmp/v", os.path.join(blender_env.ROOT, "requirements.txt"), cuda=True)
    assert "--index-url" not in cuda_steps[2][2]


@pytest.mark.download
def test_create_then_verify_then_import_from_the_package_source(prefs, monkeypatch):
    """Downloads the backend's packages (about 1 GB the first time; pip's cache after): skipped by
    CI (-m "not download"); run with `pytest -m download tests/test_addon_first_run.py`."""
    bpy.context.preferences.system.use_online_access = True
    monkeypatch.setenv("PATH", PYTHON311_DIR)
    started = time.monotonic()
    assert bpy.ops.scorehmr.create_backend_env() == {"FINISHED"}
    print(f"Create took {time.monotonic() - started:.0f} s")
    venv = _core("preferences").venv_dir()
    found = _core("preferences").find_backend(prefs)
    assert found.ok and found.python == _core("backend_env").venv_python(venv)
    site = subprocess.run([found.python, "-c", "import importlib.util as u; print(u.find_spec('jaxlib') is None)"],
                          capture_output=True, text=True).stdout.strip()
    assert site == "True"  # mediapipe's unused 330 MB jaxlib is not installed
    assert bpy.ops.scorehmr.verify_backend() == {"FINISHED"}
    settings = bpy.context.scene.scorehmr
    settings.import_start, settings.import_end = 1, 20
    video = os.path.join(blender_env.ROOT, "tests", "data", "walk_excerpt.mp4")
    assert bpy.ops.scorehmr.import_video(filepath=video) == {"FINISHED"}
