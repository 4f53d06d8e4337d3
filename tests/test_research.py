"""The runtime stays apart from the research code: the backend never imports scorehmr_research,
the shipped checkpoint holds only what inference needs, and the research side has its own files."""
import os
import subprocess
import sys

import torch

from backend.checkpoints import default_checkpoint_path
from scorehmr_research.smplify import load_pose_gmm

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_no_backend_module_imports_research_code():
    # every backend module, imported in a fresh interpreter the way the add-on starts the backend
    code = ("import pkgutil, importlib, sys, backend\n"
            "for m in pkgutil.walk_packages(backend.__path__, 'backend.'):\n"
            "    if m.name != 'backend.__main__':\n"
            "        importlib.import_module(m.name)\n"
            "print(sorted(n for n in sys.modules if n.split('.')[0] in ('scorehmr_research', 'tools', 'bench')))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_checkpoint_holds_only_inference_weights():
    ckpt = torch.load(default_checkpoint_path(), weights_only=True)
    assert set(ckpt) == {"prior", "init", "body_model", "meta"}


def test_baseline_pose_prior_is_research_side_and_loads():
    gmm = load_pose_gmm()
    assert gmm["means"].shape == (8, 69) and gmm["precisions"].shape == (8, 69, 69)
    assert all(torch.isfinite(v).all() for v in gmm.values())
    assert abs(float(gmm["weights"].sum()) - 1.0) < 1e-5


def test_research_cli_has_the_training_commands_and_the_backend_does_not():
    research = subprocess.run([sys.executable, "-m", "scorehmr_research", "--help"], cwd=ROOT, capture_output=True, text=True)
    backend = subprocess.run([sys.executable, "-m", "backend", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert research.returncode == 0 and "train-prior" in research.stdout and "fit-pose-gmm" in research.stdout
    assert backend.returncode == 0 and "train-prior" not in backend.stdout
