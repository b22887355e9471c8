#!/usr/bin/env bash
# One short go on a machine with a GPU (or a CPU with --device cpu): install the
# project's requirements, then run racer/bench/device_check.py (greedy exactness on the 30
# anchors in float16 and bfloat16, the verify-cost curve by tree size, the speed table
# at the defaults and at the authors' parameters, and what a ZeroGPU visitor sees: the GPU
# default model at precision auto, plain and RACER tokens/s and the Speedup tab's figure at
# the app's defaults, the seconds per forward the GPU-time estimates assume). Arguments go
# to the Python module:
#   scripts/device_check.sh                     # CUDA
#   scripts/device_check.sh --device cpu --quick
# Set DEVICE_CHECK_NO_INSTALL=1 to use the current environment as it is.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ -x .venv/bin/python ]; then PY=.venv/bin/python; fi
if [ -z "${DEVICE_CHECK_NO_INSTALL:-}" ]; then
    "$PY" -m pip install -q -r requirements.txt
fi
exec "$PY" -m racer.bench.device_check "$@"
