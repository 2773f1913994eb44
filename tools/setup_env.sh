#!/usr/bin/env bash
# Build (once) the pinned environment of se_plugin and install this checkout into it.
#
# The environment lives outside the clone, under ${SE_PLUGIN_CACHE:-~/.cache/se_plugin},
# keyed by a hash of requirements/base.txt and the Python version, so every clone and CI
# run reuses it while a fresh machine builds it from scratch (~1.5 min; torch's CUDA
# wheel makes it ~6 GB). A half-built environment is never used: it is only marked
# complete at the end, and rebuilt otherwise.
#
# Usage: source tools/setup_env.sh   (exports SE_PLUGIN_PY, the environment's python)
#        bash tools/setup_env.sh     (prints the python path)
set -euo pipefail

_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
_python=${SE_PLUGIN_BASE_PYTHON:-python3}
_cache=${SE_PLUGIN_CACHE:-$HOME/.cache/se_plugin}
_key=$( { cat "$_root/requirements/base.txt"; "$_python" -VV; } | sha256sum | cut -c1-16)
_venv="$_cache/venv-$_key"

mkdir -p "$_cache"
(
  flock 9
  if [ ! -f "$_venv/.complete" ]; then
    echo "[setup_env] building $_venv (first run on this machine)" >&2
    rm -rf "$_venv"
    "$_python" -m venv "$_venv"
    "$_venv/bin/python" -m pip install -q --disable-pip-version-check \
      -r "$_root/requirements/base.txt" 2> >(grep -v "is ignored: it is neither" >&2)
    touch "$_venv/.complete"
  fi
) 9>"$_cache/.lock-$_key"

# this checkout, editable, without touching the pinned dependencies
"$_venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps \
  --no-build-isolation -e "$_root" >/dev/null
export SE_PLUGIN_PY="$_venv/bin/python"
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  echo "$SE_PLUGIN_PY"
fi
