#!/usr/bin/env bash
# README command 1: set up (idempotent), then the main job on the bundled real clip:
# video -> MediaPipe -> initial estimate -> temporal ScoreHMR -> result file -> .blend with the
# animated armature -> a picture of the solved body over the video.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
video="${1:-tests/data/walk_excerpt.mp4}"
name="$(basename "${video%.*}")"
mkdir -p out
.venv/bin/python -m backend run "$video" --out "out/$name.npz"
.venv/bin/python scripts/demo_blender.py "out/$name.npz" "$video" --blend "out/$name.blend" --render "out/$name.png" --frame "${DEMO_FRAME:-20}"
echo "demo: result out/$name.npz, Blender file out/$name.blend, overlay picture out/$name.png"
