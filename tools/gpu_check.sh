#!/usr/bin/env bash
# Check se_plugin's fast paths on a CUDA GPU: fused vs reference (fp32, fp16, bf16,
# channels_last: outputs, gradients, running statistics), then the AMP + channels_last
# train/inference table against torchvision ResNet-50, mmpretrain and timm. A few minutes.
#
# Usage: bash tools/gpu_check.sh [--device cuda:N] [--repeats N] [--no-speed]
# Python: $SE_PLUGIN_PY if set; else, with SE_PLUGIN_WHEELS=DIR (a folder of wheels of
# mmengine, mmcv-lite, mmpretrain, timm and what they need), the machine's own python3 and
# torch plus those wheels (a lent GPU machine without network); else the pinned environment
# (tools/setup_env.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${SE_PLUGIN_PY:-}" ]; then
  if [ -n "${SE_PLUGIN_WHEELS:-}" ]; then
    _site=$(mktemp -d)
    python3 -m pip install -q --no-index --no-deps --no-compile --target "$_site" \
      "$SE_PLUGIN_WHEELS"/*.whl
    export PYTHONPATH="$_site${PYTHONPATH:+:$PYTHONPATH}"
    SE_PLUGIN_PY=python3
  else
    SE_PLUGIN_PY=$(bash tools/setup_env.sh)  # prints the pinned environment's python
  fi
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
exec "$SE_PLUGIN_PY" tools/gpu_check.py "$@"
