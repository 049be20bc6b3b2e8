#!/usr/bin/env bash
# Install every dependency floor of pyproject.toml exactly (`name>=X` becomes `name==X`, the `dev` extra included)
# into a throwaway venv, then run the default test suite there.
#   bash scripts/check_floors.sh [VENV [PYTEST_ARGS...]]   (default VENV: /tmp/floors; it is deleted and made anew;
#                                                         PYTEST_ARGS pick tests, e.g. tests/test_train.py)
# torch stays at 2.13.0, the CPU build scripts/setup.sh installs: any other torch version is a multi-GB download.
# Dependencies of dependencies resolve freely; only the direct floors are pinned.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${1:-/tmp/floors}
shift || true
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
rm -rf "$VENV" && "$PYTHON" -m venv "$VENV"
PIP="$VENV/bin/python -m pip --disable-pip-version-check -q"
$PIP install torch==2.13.0

PINS="$VENV/floors.txt"
"$VENV/bin/python" - > "$PINS" <<'PY'
import re, tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
for req in project["dependencies"] + project["optional-dependencies"]["dev"]:
    name, floor = re.fullmatch(r"([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?>=([^,;\s]+)", req).groups()
    if name != "torch":
        print(f"{name}=={floor}")
PY
echo "pinned floors:" && sed 's/^/  /' "$PINS"
# llama-cpp-python builds from source (minutes); pip caches the wheel for the next run.
$PIP install -c "$PINS" -e ".[dev]"
PYTHONPATH=$PWD "$VENV/bin/python" -m pytest -q -p no:cacheprovider --basetemp "$VENV/pytest-tmp" "$@"
