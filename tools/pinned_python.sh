# Sourced by the launchers: sets PYTHON to the pinned environment's python.
# An explicit PYTHON=/path/to/python wins (e.g. your own environment with se_plugin's
# requirements), then SE_PLUGIN_PY (set by `source tools/activate.sh`); otherwise
# tools/setup_env.sh builds the pinned environment once (cached under ~/.cache/se_plugin/).
# This checkout goes first on PYTHONPATH, so each clone runs its own code.
# shellcheck shell=bash
if [ -z "${PYTHON:-}" ]; then
  if [ -z "${SE_PLUGIN_PY:-}" ]; then
    # shellcheck source=tools/setup_env.sh
    source "$(dirname "${BASH_SOURCE[0]}")/setup_env.sh"
  fi
  PYTHON=$SE_PLUGIN_PY
fi
export PYTHONPATH="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)${PYTHONPATH:+:$PYTHONPATH}"
