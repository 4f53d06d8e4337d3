#!/usr/bin/env bash
# The Blender-version matrix of the add-on tests: one cached venv per bpy release (bpy, numpy<2, scipy,
# pytest only: the add-on never imports torch; tests/pytest.ini puts the checkout on the path), then
# tests/test_addon_*.py in each, each in its own process, its exit status checked.
#   bash scripts/bpy_matrix.sh setup        create/update the venvs (idempotent, prints seconds taken)
#   bash scripts/bpy_matrix.sh test [ARGS]  run the add-on tests on every version, print counts
# BPY_VERSIONS overrides the list (pip specifiers, e.g. "4.2.23 5.0.1").
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
versions=(${BPY_VERSIONS:-4.2.23 4.5.* 5.0.1})
venvs=.cache/bpy-venvs

venv_of() { echo "$venvs/bpy-${1//\*/x}"; }

setup_one() {
  local version="$1" dir stamp want start
  dir="$(venv_of "$version")"; stamp="$dir/.stamp"
  want="bpy==$version numpy>=1.26,<2 pytest>=8 scipy>=1.11,<2"
  if [ -f "$stamp" ] && grep -qxF "$want" "$stamp"; then return 0; fi
  start=$SECONDS
  rm -rf "$dir"
  "${PYTHON:-python3.11}" -m venv "$dir"  # as scripts/setup.sh: PYTHON overrides
  "$dir/bin/python" -m pip install --quiet --disable-pip-version-check "bpy==$version" "numpy>=1.26,<2" "pytest>=8" "scipy>=1.11,<2"
  echo "$want" > "$stamp"
  echo "bpy-matrix: venv for bpy $version ready in $((SECONDS - start)) s"
}

run_one() {
  local version="$1" dir log count
  shift
  dir="$(venv_of "$version")"; log="$dir/last-run.log"
  # the backend subprocess of tests/test_addon_backend.py runs with the main venv's Python
  set +e
  SCOREHMR_BACKEND_PYTHON="$root/.venv/bin/python" "$dir/bin/python" -m pytest -q -p no:cacheprovider \
    -m "not download" tests/test_addon_*.py "$@" 2>&1 | tee "$log"
  local code=${PIPESTATUS[0]}
  set -e
  count="$(grep -Eo '[0-9]+ passed' "$log" | tail -1 || true)"
  echo "bpy-matrix: bpy $("$dir/bin/python" -c 'import importlib.metadata as m; print(m.version("bpy"))') exit $code, ${count:-0 passed}"
  return "$code"
}

case "${1:-}" in
  setup) for v in "${versions[@]}"; do setup_one "$v"; done ;;
  test)
    shift
    failed=0
    for v in "${versions[@]}"; do setup_one "$v"; run_one "$v" "$@" || failed=1; done
    exit $failed ;;
  *) echo "usage: $0 setup|test [pytest args]" >&2; exit 2 ;;
esac
