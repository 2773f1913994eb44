# Enter this checkout's mim environment in this shell:
#
#   source tools/activate_mim.sh
#   pip install .                  # se_plugin as a package there, with se_plugin/.mim
#   mim search se_plugin
#
# builds it on first use (tools/setup_mim_env.sh: a few seconds, on top of the pinned
# environment), then puts its python, pip and mim first on PATH. Unlike
# tools/activate.sh it puts no checkout on PYTHONPATH: mim must find the installed package.
# `source tools/activate.sh` goes back to this checkout's code, `deactivate_se_plugin`
# leaves both.
_se_env=mim
source "$(dirname "${BASH_SOURCE[0]:-$0}")/activate.sh"
