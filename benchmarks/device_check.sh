#!/usr/bin/env bash
# One-shot check of every model family on this machine's accelerator (or CPU with --small).
#
#   bash benchmarks/device_check.sh                 # a fresh GPU machine: realistic sizes
#   bash benchmarks/device_check.sh --small         # CPU, tiny sizes (what CI runs)
#
# Uses $PYTHON when it already imports gan_jax; otherwise makes .venv-device and installs
# the project from its own files (with jax's CUDA wheels when nvidia-smi finds a GPU).
# Every other flag goes to benchmarks/device_check.py (--families, --dtypes, --scaling, ...).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c "import gan_jax, jax" 2>/dev/null; then
  python3 -m venv .venv-device
  PYTHON=.venv-device/bin/python
  extras=""
  if command -v nvidia-smi >/dev/null 2>&1; then extras="[cuda]"; fi
  "$PYTHON" -m pip install -q --upgrade pip
  "$PYTHON" -m pip install -q -e ".${extras}"
fi
"$PYTHON" -c "import jax; print('devices:', jax.devices())"
exec "$PYTHON" benchmarks/device_check.py "$@"
