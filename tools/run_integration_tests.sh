#!/usr/bin/env bash
# Run the mmdet / mmseg integration tests (tests/integration) in their own environment:
# full mmcv (compiled ops) + mmdet 3.3.0 + mmsegmentation 1.2.2, built once and cached by
# tools/setup_integration_env.sh (the first run on a machine builds mmcv from source, the
# longest step of a first run, see docs/mmdet_mmseg.md; later runs reuse it). Extra
# arguments go to pytest.
# With SE_PLUGIN_INTEGRATION_PY=/path/to/python, that environment is used as it is.
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/setup_integration_env.sh

# one intra-op thread: far faster than two for small models on 2 shared cores
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1

echo "== pytest tests/integration (mmdet $("$SE_PLUGIN_INTEGRATION_PY" -c \
  'import mmdet; print(mmdet.__version__)'), mmseg $("$SE_PLUGIN_INTEGRATION_PY" -c \
  'import mmseg; print(mmseg.__version__)'), full mmcv) =="
# PYTHONPATH: this checkout, also when the environment is the user's own
PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" \
  "$SE_PLUGIN_INTEGRATION_PY" -m pytest -p no:cacheprovider tests/integration -q "$@"
