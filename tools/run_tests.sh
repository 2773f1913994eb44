#!/usr/bin/env bash
# Set up the pinned environment (cached under ~/.cache/se_plugin/) and run
# lint + the whole test suite. Extra arguments go to pytest, e.g. -m "not slow".
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/setup_env.sh

# one intra-op thread: measured far faster than two for small models on 2 shared cores
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1

echo "== ruff (lint + format) =="
"$SE_PLUGIN_PY" -m ruff check .
"$SE_PLUGIN_PY" -m ruff format --check .

echo "== pytest (unit tests, doctests, slow end-to-end group) =="
"$SE_PLUGIN_PY" -m pytest -p no:cacheprovider "$@"
