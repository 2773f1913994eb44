#!/usr/bin/env bash
# Distributed training with torchrun + mmengine, in the pinned environment
# (tools/pinned_python.sh; PYTHON=... overrides). Without CUDA it runs on CPU with gloo.
# torchrun runs through se_plugin.cli.launch: a user error is one line and exit 2 for the
# whole job, more processes than CPU cores without CUDA one warning line.
# Usage: tools/dist_train.sh CONFIG NUM_PROCS [train.py options]
# Multi-node: NNODES=2 NODE_RANK=0 MASTER_ADDR=10.0.0.1 PORT=29500 tools/dist_train.sh CONFIG 8
set -euo pipefail
_usage='usage: tools/dist_train.sh CONFIG NUM_PROCS [train.py options]'
if [ $# -lt 2 ]; then
  echo "error: $_usage" >&2
  exit 2
fi
CONFIG=$1
NPROCS=$2
shift 2
source "$(dirname "$0")/pinned_python.sh"
check_launch_args "$CONFIG" "$NPROCS" NUM_PROCS "$_usage"
exec "$PYTHON" -m se_plugin.cli.launch \
  --nnodes="${NNODES:-1}" --node_rank="${NODE_RANK:-0}" \
  --master_addr="${MASTER_ADDR:-127.0.0.1}" --master_port="${PORT:-29500}" \
  --nproc_per_node="$NPROCS" \
  "$(dirname "$0")/train.py" "$CONFIG" --launcher pytorch "$@"
