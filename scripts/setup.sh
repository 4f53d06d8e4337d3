#!/usr/bin/env bash
# Create or update .venv/ at the repository root with everything the project needs.
# Idempotent: a second run with unchanged requirements only checks a stamp and returns.
#   bash scripts/setup.sh          backend + tests (bpy, pytest)
#   bash scripts/setup.sh --runtime   backend only
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
reqs=requirements-dev.txt
[ "${1:-}" = "--runtime" ] && reqs=requirements.txt

python_bin="${PYTHON:-}"
if [ -z "$python_bin" ]; then
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      python_bin="$candidate"; break
    fi
  done
fi
if [ -z "$python_bin" ]; then
  echo "setup: Python 3.11 is required (bpy 4.5 and mediapipe 0.10.21 are built for it); set PYTHON=/path/to/python3.11" >&2
  exit 1
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $python_bin"
  "$python_bin" -m venv .venv
fi
[ "$reqs" = requirements-dev.txt ] && { .venv/bin/python tools/fetch_motion_data.py --quiet || echo "setup: open motion sources not fetched (offline?): motion-import tests will skip" >&2; }
stamp=.venv/.requirements-stamp
want="$(cat requirements.txt requirements-cluster.txt "$reqs" pyproject.toml | sha256sum | cut -d' ' -f1)"
if [ -f "$stamp" ] && grep -qx "$want" "$stamp"; then
  exit 0
fi
echo "setup: installing $reqs into .venv (first run takes a few minutes)"
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
# torch first and alone: its pinned CPU build must be what every later resolver sees
.venv/bin/python -m pip install --quiet --disable-pip-version-check "torch==2.13.0"
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$reqs"
# the project itself, editable (pyproject.toml): tools/, bench/ and tests/ import its packages
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
echo "$want" > "$stamp"
echo "setup: done"
