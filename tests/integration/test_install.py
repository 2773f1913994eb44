"""``pip install`` of se_plugin beside a real full mmcv keeps that mmcv.

The wheel is built as ``pip install .`` builds it (build isolation) from a copy of the
checkout, then installed WITH its dependencies into a fresh virtual environment that sees
this environment's packages (full mmcv 2.1.0 with compiled ops, torch, mmengine,
mmpretrain, ...) through a ``.pth`` file, offline: pip must find every requirement already
installed. A requirement on mmcv-lite would fail to resolve, and with an index it would
install mmcv-lite's ``mmcv`` package over the compiled one. This environment is not changed.
"""

import importlib.metadata
import json
import os
import subprocess
import sys
import sysconfig

import pytest
from helpers import copy_checkout

pytest.importorskip('mmcv._ext', reason='integration env only (tools/run_integration_tests.sh)')
import mmcv  # noqa: E402

pytestmark = pytest.mark.slow

CHECK = """
import importlib.metadata as m, json, mmcv, mmcv._ext, se_plugin
try:
    lite = m.version('mmcv-lite')
except m.PackageNotFoundError:
    lite = None
print(json.dumps(dict(mmcv=m.version('mmcv'), mmcv_file=mmcv.__file__, lite=lite,
                      se_plugin=se_plugin.__file__)))
"""


def _pip(*args, cwd=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith('PIP_')}  # no find-links
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK='1')
    env.pop('PYTHONPATH', None)  # the checkout must not count as installed
    return subprocess.run(
        [sys.executable, '-m', 'pip', *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=900,
    )


def _layered_venv(path) -> str:
    """A virtual environment that sees this one's packages (a .pth file); its python."""
    subprocess.run([sys.executable, '-m', 'venv', '--without-pip', str(path)], check=True)
    python = str(path / 'bin' / 'python')
    purelib = 'import sysconfig; print(sysconfig.get_paths()["purelib"])'
    site = subprocess.run([python, '-c', purelib], capture_output=True, text=True, check=True)
    paths = {sysconfig.get_paths()['purelib'], sysconfig.get_paths()['platlib']}
    with open(os.path.join(site.stdout.strip(), 'outer_env.pth'), 'w') as f:
        f.write('\n'.join(sorted(paths)) + '\n')
    return python


def test_pip_install_beside_full_mmcv_keeps_it(tmp_path):
    src = copy_checkout(tmp_path / 'src')
    proc = _pip('wheel', '.', '--no-deps', '-q', '-w', str(tmp_path / 'dist'), cwd=src)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (wheel,) = (tmp_path / 'dist').glob('se_plugin-*.whl')

    python = _layered_venv(tmp_path / 'env')
    proc = _pip('--python', python, 'install', '--no-index', str(wheel))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    installed = proc.stdout.split('Successfully installed ', 1)[1].split()
    assert [name.rsplit('-', 1)[0] for name in installed] == ['se-plugin']  # nothing else

    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    run = subprocess.run(
        [python, '-c', CHECK], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300
    )
    assert run.returncode == 0, run.stderr[-3000:]
    seen = json.loads(run.stdout.strip().splitlines()[-1])
    # the compiled mmcv of this environment, no mmcv-lite, se_plugin from the new install
    assert seen['mmcv'] == importlib.metadata.version('mmcv') and seen['lite'] is None
    assert seen['mmcv_file'] == mmcv.__file__
    assert seen['se_plugin'].startswith(str(tmp_path / 'env'))
