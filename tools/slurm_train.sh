#!/usr/bin/env bash
# Training on a Slurm cluster (srun, one task per GPU, mmengine's slurm launcher), in the
# pinned environment (tools/pinned_python.sh; PYTHON=... overrides).
# Usage: [GPUS=8] [GPUS_PER_NODE=8] [CPUS_PER_TASK=5] [SRUN_ARGS=...] \
#        tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [train.py options]
set -euo pipefail
_usage='usage: tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [train.py options]'
if [ $# -lt 4 ]; then
  echo "error: $_usage" >&2
  exit 2
fi
if ! command -v srun >/dev/null 2>&1; then
  echo "error: srun not found on PATH: tools/slurm_train.sh needs a Slurm cluster (without Slurm:" \
    "tools/dist_train.sh)" >&2
  exit 2
fi
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
WORK_DIR=$4
shift 4
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
source "$(dirname "$0")/pinned_python.sh"
# shellcheck disable=SC2086  # SRUN_ARGS is a list of options
exec srun -p "$PARTITION" \
  --job-name="$JOB_NAME" \
  --gres=gpu:"$GPUS_PER_NODE" \
  --ntasks="$GPUS" \
  --ntasks-per-node="$GPUS_PER_NODE" \
  --cpus-per-task="$CPUS_PER_TASK" \
  --kill-on-bad-exit=1 \
  ${SRUN_ARGS:-} \
  "$PYTHON" -u "$(dirname "$0")/train.py" "$CONFIG" --work-dir="$WORK_DIR" --launcher=slurm "$@"
