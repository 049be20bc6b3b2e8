#!/usr/bin/env bash
# Create .venv and install datagen with the CPU build of PyTorch.
#   bash scripts/setup.sh           what the quickstart needs
#   bash scripts/setup.sh --tests   also the test tools: the dev extra, and Chromium + ChromeDriver (Debian) for
#                                   the report's browser test
# torch is installed first, pinned: resolved as a plain dependency it would pull the newest CUDA build (GBs).
# Set TORCH_SPEC (e.g. "torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128") on a GPU node.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
EXTRAS=${EXTRAS:-}
BROWSER=0
if [ "${1:-}" = "--tests" ]; then
  EXTRAS=${EXTRAS:-dev}
  BROWSER=1
fi

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
PIP=".venv/bin/python -m pip --disable-pip-version-check -q"

# shellcheck disable=SC2086
.venv/bin/python -c "import torch" 2>/dev/null || $PIP install $TORCH_SPEC
# llama-cpp-python compiles from source the first time (about 5 minutes on 2 cores); pip caches the wheel.
# It is built for this CPU but without AMX: some virtual machines list AMX in /proc/cpuinfo and then trap its
# instructions (Illegal instruction when a model loads). Set CMAKE_ARGS yourself to build it otherwise.
if [ -z "${CMAKE_ARGS:-}" ] && [ "$(uname -m)" = x86_64 ]; then
  NO_AMX="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
  export CMAKE_ARGS="-DCMAKE_C_FLAGS='$NO_AMX' -DCMAKE_CXX_FLAGS='$NO_AMX'"
fi
$PIP install -e ".${EXTRAS:+[$EXTRAS]}"

if [ "$BROWSER" = 1 ] && ! command -v chromedriver >/dev/null; then
  SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
  if command -v apt-get >/dev/null; then
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null \
      || echo "warning: could not install chromium; the browser test will be skipped"
  else
    echo "warning: no apt-get; install Chromium and ChromeDriver for the browser test"
  fi
fi
echo "datagen is set up in .venv (activate with: source .venv/bin/activate)"
