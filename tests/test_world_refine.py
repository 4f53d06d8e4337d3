"""Refine on a result with a floor: the user forces or frees foot contacts on a frame range."""
import os
import subprocess
import sys

import numpy as np
import pytest

from backend.errors import BackendError
from backend.pipeline import refine_result
from smplcore.result import MotionResult

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def walk(tmp_path_factory):
    out = tmp_path_factory.mktemp("world") / "walk.npz"
    run = subprocess.run([sys.executable, "-m", "backend", "run", os.path.join(ROOT, "tests", "data", "walk_excerpt.mp4"),
                          "--out", os.fspath(out)], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr
    assert MotionResult.load(out).cam_to_world is not None
    return out


def test_contact_modes_reach_the_solver_and_only_the_range_changes(walk, tmp_path):
    result = MotionResult.load(walk)
    rows = (result.frame_index >= 30) & (result.frame_index <= 60)
    forced = refine_result(walk, tmp_path / "forced.npz", 30, 60, contacts="force")
    freed = refine_result(walk, tmp_path / "freed.npz", 30, 60, contacts="free")
    for refined in (forced, freed):
        assert np.array_equal(refined.poses[~rows], result.poses[~rows].astype(np.float32))
        assert np.allclose(refined.cam_to_world, result.cam_to_world)
    # planted or free feet in the range give a different motion there
    assert np.abs(forced.trans[rows] - freed.trans[rows]).max() > 0.005


def test_unknown_contact_mode_is_refused(walk, tmp_path):
    with pytest.raises(BackendError, match="contacts"):
        refine_result(walk, tmp_path / "x.npz", 30, 60, contacts="sometimes")
