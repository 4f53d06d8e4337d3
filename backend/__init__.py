"""The ScoreHMR backend: video -> keypoints -> initial estimate -> ScoreHMR -> result file.

Runs in its own Python (torch, smplx, mediapipe, cv2) and never imports bpy. Entry point:
``python -m backend --help`` from the extension root. Keep this file import-light: the CLI
imports heavy modules only inside the sub-command that needs them.
"""
import os

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
ROOT_DIR = os.path.dirname(PACKAGE_DIR)
DATA_DIR = os.path.join(ROOT_DIR, "data")
