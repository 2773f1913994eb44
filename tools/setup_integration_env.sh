#!/usr/bin/env bash
# Build (once) the integration environment of se_plugin: the main stack with FULL mmcv
# (compiled CPU ops) in place of mmcv-lite, plus mmdet and mmsegmentation
# (requirements/integration.txt), and install this checkout into it.
#
# Kept apart from the main environment (tools/setup_env.sh), which stays on mmcv-lite.
# Everything lives under ${SE_PLUGIN_CACHE:-~/.cache/se_plugin}:
#   venv-integration-<key>/   keyed by a hash of requirements/{base,integration}.txt and the
#                             Python version;
#   wheels/mmcv-<ver>-<key>/  the mmcv wheel, built ONCE from its PyPI sdist (tens of
#                             minutes on 2 cores, docs/mmdet_mmseg.md) and reused by every
#                             later environment; keyed by the mmcv version, the torch pin,
#                             the Python version and the recipe.
# Both are marked complete only at the end, rebuilt when half-built, and built under a
# lock (flock), so concurrent runs wait for each other instead of racing.
#
# Bring your own environment: with SE_PLUGIN_INTEGRATION_PY=/path/to/python (one that
# already imports mmcv._ext, mmdet.models and mmseg.models) nothing is built or installed:
# your mmcv is never replaced, and the tests run this checkout through PYTHONPATH.
#
# Usage: source tools/setup_integration_env.sh  (exports SE_PLUGIN_INTEGRATION_PY, and
#                                               SE_PLUGIN_INTEGRATION_ENV=cached|own)
#        bash tools/setup_integration_env.sh    (prints that python's path)
# Knobs: SE_PLUGIN_BASE_PYTHON (python3), SE_PLUGIN_CACHE, MAX_JOBS (2) for the mmcv build.
# Sourcing changes no shell options: the work runs in a child bash.

if [ "${BASH_SOURCE[0]}" != "$0" ]; then
  if [ -n "${SE_PLUGIN_INTEGRATION_PY:-}" ]; then _se_kind=own; else _se_kind=cached; fi
  if _se_ipy=$(bash "${BASH_SOURCE[0]}"); then
    export SE_PLUGIN_INTEGRATION_PY=$_se_ipy SE_PLUGIN_INTEGRATION_ENV=$_se_kind
    unset _se_kind _se_ipy
    return 0
  fi
  unset _se_kind _se_ipy
  return 1
fi
set -euo pipefail

_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
_check='import mmcv, mmcv._ext, mmdet.models, mmseg.models'

if [ -n "${SE_PLUGIN_INTEGRATION_PY:-}" ]; then
  # the user's own environment: check it, change nothing
  if ! "$SE_PLUGIN_INTEGRATION_PY" -c "$_check" 2>/dev/null; then
    echo "[setup_integration_env] SE_PLUGIN_INTEGRATION_PY=$SE_PLUGIN_INTEGRATION_PY cannot" \
      "'$_check'; unset it to build the cached environment" >&2
    exit 2
  fi
  echo "$SE_PLUGIN_INTEGRATION_PY"
  exit 0
fi

_python=${SE_PLUGIN_BASE_PYTHON:-python3}
_cache=${SE_PLUGIN_CACHE:-$HOME/.cache/se_plugin}
_pyver=$("$_python" -VV)
_base="$_root/requirements/base.txt"
_integ="$_root/requirements/integration.txt"
_key=$( { cat "$_base" "$_integ"; echo "$_pyver"; } | sha256sum | cut -c1-16)
_venv="$_cache/venv-integration-$_key"
_vpy="$_venv/bin/python"

# the mmcv wheel: what its binary depends on, and how it was built
_mmcv_ver=$(sed -n 's/^mmcv==\([0-9][0-9.]*\).*/\1/p' "$_integ")
_recipe='sdist; setuptools<70 + --no-build-isolation; -std=c++20; MMCV_WITH_OPS=1 FORCE_CUDA=0'
_wkey=$( { echo "$_mmcv_ver"; grep -E '^torch==' "$_base"; echo "$_pyver"; echo "$_recipe"; } \
  | sha256sum | cut -c1-16)
_wheels="$_cache/wheels/mmcv-$_mmcv_ver-$_wkey"

_pip() {
  # no PYTHONPATH: a checkout on it (with its egg-info) is no installed package
  PYTHONPATH= "$_vpy" -m pip --disable-pip-version-check "$@" 2> >(grep -v "is ignored: it is neither" >&2)
}

# base.txt without mmcv-lite, integration.txt with or without its mmcv line
_write_reqs() {  # $1: dir, $2: 'with-mmcv' | 'no-mmcv'
  grep -v -E '^mmcv-lite([=<>!~ ]|$)' "$_base" >"$1/base.txt"
  if [ "$2" = with-mmcv ]; then
    cp "$_integ" "$1/integration.txt"
  else
    grep -v -E '^mmcv([=<>!~ ]|$)' "$_integ" >"$1/integration.txt"
  fi
}

# Build the mmcv wheel into $_wheels (uses the venv's torch). Caller holds the wheel lock.
_build_mmcv_wheel() {
  local work="$_cache/build-mmcv-$_wkey" log="$_cache/build-mmcv-$_wkey.log"
  local before t0 src
  echo "[setup_integration_env] building the mmcv $_mmcv_ver wheel once (tens of minutes" \
    "on 2 cores; log: $log)" >&2
  t0=$(date +%s)
  rm -rf "$work" "$_wheels"
  mkdir -p "$work"
  before=$("$_vpy" -c 'import importlib.metadata as m; print(m.version("setuptools"))')
  src="$work/mmcv-$_mmcv_ver"
  # its setup.py imports pkg_resources (gone from setuptools >= 70); torch 2.14's headers
  # need C++20. (A chain of &&: `set -e` does not act inside a command tested by ||.)
  {
    _pip install -q 'setuptools<70' wheel==0.45.1 ninja==1.13.2 &&
      _pip download -q --no-deps --no-binary :all: "mmcv==$_mmcv_ver" -d "$work" &&
      tar -xzf "$work/mmcv-$_mmcv_ver.tar.gz" -C "$work" &&
      grep -q -- '-std=c++17' "$src/setup.py" &&
      sed -i 's/-std=c++17/-std=c++20/g' "$src/setup.py" &&
      (cd "$src" && MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS=${MAX_JOBS:-2} \
        "$_vpy" -m pip --disable-pip-version-check wheel -v --no-deps --no-build-isolation \
        -w "$work/dist" .)
  } >"$log" 2>&1 || {
    echo "[setup_integration_env] mmcv build failed; see $log" >&2
    tail -n 30 "$log" >&2
    _pip install -q "setuptools==$before"
    return 1
  }
  # torch wants setuptools >= 77.0.3 back
  _pip install -q "setuptools==$before"
  rm -rf "$_wheels.tmp" && mkdir -p "$_wheels.tmp"
  mv "$work"/dist/mmcv-*.whl "$_wheels.tmp/"
  rm -rf "$_wheels" && mv "$_wheels.tmp" "$_wheels"
  touch "$_wheels/.complete"
  rm -rf "$work"
  echo "[setup_integration_env] mmcv wheel built in $(($(date +%s) - t0)) s: $_wheels" >&2
}

mkdir -p "$_cache/wheels"
(
  flock 9
  if [ ! -f "$_venv/.complete" ]; then
    echo "[setup_integration_env] building $_venv (first run on this machine)" >&2
    rm -rf "$_venv"
    "$_python" -m venv "$_venv"
    _reqs=$(mktemp -d)
    trap 'rm -rf "$_reqs"' EXIT
    # 1. everything but mmcv (the build needs torch)
    _write_reqs "$_reqs" no-mmcv
    _pip install -q -r "$_reqs/integration.txt"
    # 2. the mmcv wheel, once per machine
    (
      flock 8
      if [ ! -f "$_wheels/.complete" ]; then _build_mmcv_wheel; fi
    ) 8>"$_cache/wheels/.lock-mmcv-$_wkey"
    # 3. mmcv from that wheel only (pip never builds it itself), checked against the rest
    _write_reqs "$_reqs" with-mmcv
    _pip install -q --find-links "$_wheels" --only-binary mmcv -r "$_reqs/integration.txt"
    if ! "$_vpy" -c "$_check"; then
      echo "[setup_integration_env] '$_check' fails in $_venv" >&2
      exit 1
    fi
    touch "$_venv/.complete"
  fi
) 9>"$_cache/.lock-integration-$_key"

# nothing in the shared environment points at a checkout (run_integration_tests.sh puts
# this checkout on PYTHONPATH); earlier versions editable-installed the last one to run
if (cd / && PYTHONPATH= "$_vpy" -m pip show se_plugin >/dev/null 2>&1); then
  (cd / && PYTHONPATH= "$_vpy" -m pip uninstall -y -q --disable-pip-version-check se_plugin >&2)
fi
echo "$_vpy"
