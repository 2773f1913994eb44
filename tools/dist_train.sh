#!/usr/bin/env bash
# Multi-process training through torch.distributed (torchrun) + mmengine.
# Usage: tools/dist_train.sh CONFIG NUM_PROCS [train.py options]
# Multi-node: NNODES=2 NODE_RANK=0 MASTER_ADDR=10.0.0.1 tools/dist_train.sh CONFIG 8
# Runs in the pinned environment (tools/activate.sh) unless PYTHON names another python.
set -euo pipefail
_usage='usage: tools/dist_train.sh CONFIG NUM_PROCS [train.py options]'
if [ $# -lt 2 ]; then
  echo "error: $_usage" >&2
  exit 2
fi
CONFIG=$1
NPROCS=$2
shift 2
if ! [[ $NPROCS =~ ^[0-9]+$ ]] || [ "$NPROCS" -lt 1 ]; then
  echo "error: NUM_PROCS must be an int >= 1 (processes on this node), got '$NPROCS'; $_usage" >&2
  exit 2
fi
if [ ! -f "$CONFIG" ]; then
  echo "error: config file not found: $CONFIG" >&2
  exit 2
fi
if [ -z "${PYTHON:-}" ]; then
  if [ -z "${SE_PLUGIN_PY:-}" ]; then
    source "$(dirname "$0")/activate.sh"
  fi
  PYTHON=${SE_PLUGIN_PY:?tools/activate.sh failed}
fi
# this checkout first, also when PYTHON is another environment
export PYTHONPATH="$(cd "$(dirname "$0")/.." && pwd)${PYTHONPATH:+:$PYTHONPATH}"
exec "$PYTHON" -m torch.distributed.run \
  --nnodes="${NNODES:-1}" --node_rank="${NODE_RANK:-0}" \
  --master_addr="${MASTER_ADDR:-127.0.0.1}" --master_port="${PORT:-29500}" \
  --nproc_per_node="$NPROCS" \
  "$(dirname "$0")/train.py" "$CONFIG" --launcher pytorch "$@"
