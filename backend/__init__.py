"""The ScoreHMR backend: video -> keypoints -> initial estimate -> ScoreHMR -> result file.

Runs in its own Python (torch, smplx, mediapipe, cv2) and never imports bpy. Entry point:
``python -m backend --help`` from the extension root. Keep this file import-light: the CLI
imports heavy modules only inside the sub-command that needs them.
"""
import os
import sys

# torch's OpenMP threads spin while they wait for work: beside one busy core (MediaPipe, another
# program) a two-thread solve ran 2.5x slower than one thread (bundled walk: 1.85 s vs 0.74 s),
# and one thread left a core idle on an idle machine. Waiting threads that sleep instead cost
# little (0.78 s beside a busy core, 0.67 s idle). libgomp reads this once, when torch loads;
# a setting of the user's own stands (see ``device.solver_cpu_threads``).
if "torch" not in sys.modules:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
ROOT_DIR = os.path.dirname(PACKAGE_DIR)
DATA_DIR = os.path.join(ROOT_DIR, "data")
