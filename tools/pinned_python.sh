# Sourced by the launchers: sets PYTHON to the pinned environment's python.
# An explicit PYTHON=/path/to/python wins (e.g. your own environment with se_plugin
# installed); otherwise tools/setup_env.sh builds the pinned environment once (cached under
# ~/.cache/se_plugin/) and installs this checkout into it.
# shellcheck shell=bash
if [ -z "${PYTHON:-}" ]; then
  # shellcheck source=tools/setup_env.sh
  source "$(dirname "${BASH_SOURCE[0]}")/setup_env.sh"
  PYTHON=$SE_PLUGIN_PY
fi
# as in every OpenMMLab repo: the checkout first on the path
export PYTHONPATH="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)${PYTHONPATH:+:$PYTHONPATH}"
