import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_backend(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "backend", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def test_help_lists_commands():
    out = run_backend("--help")
    assert out.returncode == 0 and "doctor" in out.stdout


def test_doctor_reports_environment_as_json():
    out = run_backend("doctor")
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert info["versions"]["torch"].startswith("2.13.0")
    assert info["versions"]["mediapipe"] == "0.10.21"
    assert info["device"] in ("cpu", "cuda")
    assert info["body_model"]["ok"] and info["body_model"]["shipped"]
    assert info["body_model"]["id"].startswith("scorehmr_neutral:")
    assert info["mediapipe_pose"]["ok"], info["mediapipe_pose"]
    assert "checkpoint" in info


def test_doctor_names_a_broken_body_model(tmp_path):
    bad = tmp_path / "SMPL_NEUTRAL.pkl"
    bad.write_bytes(b"garbage")
    info = json.loads(run_backend("doctor", "--body-model", str(bad)).stdout)
    assert not info["body_model"]["ok"] and "SMPL_NEUTRAL.pkl" in info["body_model"]["error"]
