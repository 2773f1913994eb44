# Enter se_plugin's pinned environment in this shell, for this checkout:
#
#   source tools/activate.sh
#
# builds the cached environment on first use (tools/setup_env.sh, ~2 min, under
# ${SE_PLUGIN_CACHE:-~/.cache/se_plugin}), then puts its python first on PATH and this
# checkout first on PYTHONPATH, so `python tools/train.py ...` runs this checkout's code
# even when other clones share the environment. `deactivate_se_plugin` undoes it.
# Sourcing changes no shell options (the setup runs in a child bash).
# tools/activate_mim.sh enters this checkout's mim environment through this file instead.

_se_root=$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")/.." && pwd)
if [ "${_se_env:-}" = mim ]; then _se_setup=setup_mim_env.sh; else _se_setup=setup_env.sh; fi
if _se_py=$(bash "$_se_root/tools/$_se_setup"); then
  _SE_PLUGIN_OLD_PATH=${_SE_PLUGIN_OLD_PATH-$PATH}
  _SE_PLUGIN_OLD_PYTHONPATH=${_SE_PLUGIN_OLD_PYTHONPATH-${PYTHONPATH-}}
  export SE_PLUGIN_PY=$_se_py SE_PLUGIN_ROOT=$_se_root
  export PATH="$(dirname "$_se_py"):$_SE_PLUGIN_OLD_PATH"
  if [ "$_se_setup" = setup_mim_env.sh ]; then
    export PYTHONPATH=$_SE_PLUGIN_OLD_PYTHONPATH  # se_plugin as installed there
    [ -n "$PYTHONPATH" ] || unset PYTHONPATH
  else
    export PYTHONPATH="$_se_root${_SE_PLUGIN_OLD_PYTHONPATH:+:$_SE_PLUGIN_OLD_PYTHONPATH}"
  fi
  hash -r 2>/dev/null
  deactivate_se_plugin() {
    export PATH=$_SE_PLUGIN_OLD_PATH PYTHONPATH=$_SE_PLUGIN_OLD_PYTHONPATH
    [ -n "$PYTHONPATH" ] || unset PYTHONPATH
    unset SE_PLUGIN_PY SE_PLUGIN_ROOT _SE_PLUGIN_OLD_PATH _SE_PLUGIN_OLD_PYTHONPATH
    unset -f deactivate_se_plugin
    hash -r 2>/dev/null
  }
  if [ "$_se_setup" = setup_mim_env.sh ]; then
    echo "[activate] python: $_se_py; se_plugin as installed there (pip install .)" >&2
  else
    echo "[activate] python: $_se_py; se_plugin from $_se_root" >&2
  fi
else
  echo "[activate] setting up the environment failed (see above)" >&2
fi
unset _se_root _se_py _se_setup _se_env
