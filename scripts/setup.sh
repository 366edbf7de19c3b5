#!/usr/bin/env bash
# Set up ZSL Explorer on a fresh machine: a virtual environment in .venv with everything pinned.
#   bash scripts/setup.sh            # the app and the engine
#   bash scripts/setup.sh --browser  # also Chromium, for the real-browser test (Debian/Ubuntu, needs root)
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
# torch first, from its exact pin: left to choose, pip would pull a multi-GB CUDA build.
.venv/bin/python -m pip install --quiet torch==2.13.0
.venv/bin/python -m pip install --quiet -r requirements.txt

if [ "${1:-}" = "--browser" ] && [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
echo "ZSL Explorer is set up in $(pwd)/.venv"
