#!/usr/bin/env bash
# Build (once) the pinned environment of se_plugin. This checkout is NOT installed into it:
# tools/activate.sh puts the checkout first on PYTHONPATH, so clones that share the cached
# environment each run their own code (nothing in the environment points at a checkout).
#
# The environment lives outside the clone, under ${SE_PLUGIN_CACHE:-~/.cache/se_plugin},
# keyed by a hash of requirements/base.txt and the Python version, so every clone and CI
# run reuses it while a fresh machine builds it from scratch (~1.5 min; torch's CUDA
# wheel makes it ~6 GB). A half-built environment is never used: it is only marked
# complete at the end, and rebuilt otherwise.
#
# Usage: bash tools/setup_env.sh     (prints the environment's python)
#        source tools/activate.sh    (what users and the other scripts do: this, then PATH and
#                                     PYTHONPATH for this checkout)
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
  # earlier versions of this script editable-installed the checkout that ran it last, so
  # every clone imported that one: remove such an install (the environment stays shared)
  # (from / and without PYTHONPATH: a checkout's own se_plugin.egg-info must not count)
  if (cd / && PYTHONPATH= "$_venv/bin/python" -m pip show se_plugin >/dev/null 2>&1); then
    echo "[setup_env] removing the editable se_plugin install from $_venv" >&2
    (cd / && PYTHONPATH= "$_venv/bin/python" -m pip uninstall -y -q \
      --disable-pip-version-check se_plugin >&2)
  fi
) 9>"$_cache/.lock-$_key"

echo "$_venv/bin/python"
