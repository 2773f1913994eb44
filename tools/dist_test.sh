#!/usr/bin/env bash
# Distributed testing with torchrun + mmengine, in the pinned environment
# (tools/pinned_python.sh; PYTHON=... overrides). Without CUDA it runs on CPU with gloo.
# torchrun runs through se_plugin.cli.launch: a user error is one line and exit 2 for the
# whole job, more processes than CPU cores without CUDA one warning line.
# Usage: tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py options]
# Multi-node: NNODES=2 NODE_RANK=0 MASTER_ADDR=10.0.0.1 PORT=29500 tools/dist_test.sh ...
set -euo pipefail
CONFIG=${1:?usage: tools/dist_test.sh CONFIG CHECKPOINT GPUS [options]}
CHECKPOINT=${2:?usage: tools/dist_test.sh CONFIG CHECKPOINT GPUS [options]}
GPUS=${3:?usage: tools/dist_test.sh CONFIG CHECKPOINT GPUS [options]}
shift 3
source "$(dirname "$0")/pinned_python.sh"
check_launch_args "$CONFIG" "$GPUS" GPUS "usage: tools/dist_test.sh CONFIG CHECKPOINT GPUS [options]"
exec "$PYTHON" -m se_plugin.cli.launch \
  --nnodes="${NNODES:-1}" --node_rank="${NODE_RANK:-0}" \
  --master_addr="${MASTER_ADDR:-127.0.0.1}" --master_port="${PORT:-29500}" \
  --nproc_per_node="$GPUS" \
  "$(dirname "$0")/test.py" "$CONFIG" "$CHECKPOINT" --launcher pytorch "$@"
