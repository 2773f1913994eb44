# Sourced by the launchers: sets PYTHON to the pinned environment's python.
# An explicit PYTHON=/path/to/python wins (e.g. your own environment with se_plugin's
# requirements), then SE_PLUGIN_PY (set by `source tools/activate.sh`); otherwise
# tools/setup_env.sh builds the pinned environment once (cached under ~/.cache/se_plugin/).
# This checkout goes first on PYTHONPATH, so each clone runs its own code.
# shellcheck shell=bash
if [ -z "${PYTHON:-}" ]; then
  if [ -z "${SE_PLUGIN_PY:-}" ]; then
    SE_PLUGIN_PY=$(bash "$(dirname "${BASH_SOURCE[0]}")/setup_env.sh")  # prints its python
  fi
  PYTHON=$SE_PLUGIN_PY
fi
export PYTHONPATH="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)${PYTHONPATH:+:$PYTHONPATH}"

# check_launch_args CONFIG COUNT COUNT_NAME USAGE: one line and exit 2 for what torchrun
# would answer with a traceback (shared by the dist_* launchers)
check_launch_args() {
  if ! [[ $2 =~ ^[0-9]+$ ]] || [ "$2" -lt 1 ]; then
    echo "error: $3 must be an int >= 1 (processes on this node), got '$2'; $4" >&2
    exit 2
  fi
  if [ ! -f "$1" ]; then
    echo "error: config file not found: $1" >&2
    exit 2
  fi
}
