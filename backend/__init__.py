"""The ScoreHMR backend: video -> keypoints -> initial estimate -> ScoreHMR -> result file.

Runs in its own Python (torch, smplx, mediapipe, cv2) and never imports bpy. Entry point:
``python -m backend --help`` from the extension root. Keep this file import-light: the CLI
imports heavy modules only inside the sub-command that needs them.
"""
import os
import sys

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
ROOT_DIR = os.path.dirname(PACKAGE_DIR)
DATA_DIR = os.path.join(ROOT_DIR, "data")

# ``smplcore`` (pure shared math) sits beside this package at the extension root.
if ROOT_DIR not in sys.path:
    sys.path.insert(0, ROOT_DIR)
