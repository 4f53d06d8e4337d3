#!/usr/bin/env bash
# README command 2: set up (idempotent) and run the whole test suite (with arguments: pytest on those).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
if [ $# -gt 0 ]; then  # a developer's selection: just that, in .venv
  exec .venv/bin/python -m pytest -q tests "$@"
fi
.venv/bin/ruff check --quiet .
# everything but the add-on tests in .venv; the add-on tests on every bpy of the matrix (bpy 4.2 LTS,
# 4.5 LTS, 5.0), each its own process; the long Create download test is left to a manual run
.venv/bin/python -m pytest -q -m "not download" --ignore-glob='*/test_addon_*' tests
bash scripts/bpy_matrix.sh test
