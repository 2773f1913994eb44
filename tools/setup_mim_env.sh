#!/usr/bin/env bash
# Build (once per checkout) the mim environment of se_plugin: a small virtual environment
# whose packages are the pinned environment's (a .pth file adds its site-packages, nothing
# is copied) and into which `pip install .` installs se_plugin as a package, which is what
# mim reads (`se_plugin/.mim`: configs, tools, model-index.yml). The shared pinned
# environment itself never holds an install (tools/setup_env.sh keeps it so).
#
# It lives under ${SE_PLUGIN_CACHE:-~/.cache/se_plugin}/venv-mim-<key>, keyed by the pinned
# environment and this checkout's path: every clone has its own, and `pip install .` in one
# never changes what mim runs in another (the environments of deleted checkouts are removed).
# `pip` and `mim` there are the pinned environment's, run by this environment's python, so
# they install into and read from it.
#
# Usage: source tools/activate_mim.sh   (what users do: this, then PATH for this shell)
#        bash tools/setup_mim_env.sh     (prints the environment's python)
set -euo pipefail

_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
_pinned=$(bash "$_root/tools/setup_env.sh")
_cache=${SE_PLUGIN_CACHE:-$HOME/.cache/se_plugin}
_key=$( { echo "$_pinned"; echo "$_root"; } | sha256sum | cut -c1-16)
_venv="$_cache/venv-mim-$_key"

# the environments of checkouts that no longer exist go
for _old in "$_cache"/venv-mim-*; do
  if [ -f "$_old/.complete" ] && [ -f "$_old/.checkout" ] && [ ! -d "$(cat "$_old/.checkout")" ]; then
    rm -rf "$_old" "$_cache/.lock-mim-${_old##*/venv-mim-}"
  fi
done

(
  flock 9
  if [ ! -f "$_venv/.complete" ]; then
    echo "[setup_mim_env] building $_venv (once for this checkout)" >&2
    rm -rf "$_venv"
    "$_pinned" -m venv --without-pip "$_venv"
    _purelib='import sysconfig; print(sysconfig.get_paths()["purelib"])'
    "$_pinned" -c "$_purelib" >"$("$_venv/bin/python" -c "$_purelib")/se_plugin_pinned_env.pth"
    for _tool in pip mim; do
      printf '#!/bin/sh\nexec "$(dirname "$0")/python" -m %s "$@"\n' "$_tool" >"$_venv/bin/$_tool"
      chmod +x "$_venv/bin/$_tool"
    done
    echo "$_root" >"$_venv/.checkout"
    touch "$_venv/.complete"
  fi
) 9>"$_cache/.lock-mim-$_key"

echo "$_venv/bin/python"
