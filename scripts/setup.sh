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
# llama-cpp-python compiles from source (about 5 minutes on 2 cores) for this CPU, so its wheel is kept in a cache
# of our own, one folder per CPU feature set and CMAKE_ARGS: pip's wheel cache ignores both and hands a wheel built
# on another CPU to this one ("Illegal instruction"). It is built without AMX: some virtual machines list AMX in
# /proc/cpuinfo and then trap its instructions. Set CMAKE_ARGS yourself to build it otherwise.
if [ -z "${CMAKE_ARGS:-}" ] && [ "$(uname -m)" = x86_64 ]; then
  NO_AMX="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
  export CMAKE_ARGS="-DCMAKE_C_FLAGS='$NO_AMX' -DCMAKE_CXX_FLAGS='$NO_AMX'"
fi
if ! .venv/bin/python -c "import llama_cpp" 2>/dev/null; then
  LLAMA_REQ=$(.venv/bin/python scripts/llama_wheel_key.py --requirement)
  LLAMA_WHEELS="${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/datagen/llama-cpp-wheels/$(.venv/bin/python scripts/llama_wheel_key.py)"
  $PIP wheel --no-cache-dir --no-deps --find-links "$LLAMA_WHEELS" -w "$LLAMA_WHEELS" "$LLAMA_REQ"
  $PIP install --find-links "$LLAMA_WHEELS" "$LLAMA_REQ"
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
