"""The installable package: static requirements that never replace a user's full mmcv,
mim's files in the wheel, and one clear line when no mmcv is installed.

The wheel is built the way ``pip install .`` builds it (PEP 517, build isolation: setuptools
comes from the index, the user's packages are invisible), from a copy of the checkout.
pip's resolver is then asked to install it into an environment holding a full ``mmcv``
(tests/integration/test_install.py does it with the real compiled mmcv).
"""

import email
import json
import os
import subprocess
import sys
import zipfile

import pytest
from helpers import ROOT, copy_checkout
from packaging.requirements import Requirement

import se_plugin

# what a plain install brings (pyproject.toml), each stood in for by its pinned version
BASE_REQUIREMENTS = ('torch', 'torchvision', 'mmengine', 'mmpretrain', 'mlxtend')


def _pins() -> dict:
    pins = {}
    with open(os.path.join(ROOT, 'requirements', 'base.txt')) as f:
        for line in f:
            name, sep, version = line.split('#')[0].strip().partition('==')
            if sep:
                pins[name.lower()] = version
    return pins


def _pip(*args, cwd=None, timeout=600):
    """This interpreter's pip, ignoring pip config files (no find-links, no constraints)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith('PIP_')}  # no find-links
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK='1')
    env.pop('PYTHONPATH', None)  # a checkout on it would count as an installed se_plugin
    return subprocess.run(
        [sys.executable, '-m', 'pip', *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=timeout,
    )


@pytest.fixture(scope='module')
def wheel(tmp_path_factory):
    """``pip wheel .`` with build isolation, from a fresh copy of the checkout."""
    tmp = tmp_path_factory.mktemp('wheel')
    src = copy_checkout(tmp / 'src')
    proc = _pip('wheel', '.', '--no-deps', '-q', '-w', str(tmp / 'dist'), cwd=src)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (path,) = (tmp / 'dist').glob('se_plugin-*.whl')
    return path


def _metadata(wheel_path):
    with zipfile.ZipFile(wheel_path) as z:
        (name,) = [n for n in z.namelist() if n.endswith('.dist-info/METADATA')]
        return email.message_from_bytes(z.read(name)), z.namelist()


def _requirement_name(requirement: str) -> str:
    return Requirement(requirement).name.lower().replace('_', '-')


@pytest.mark.slow
def test_wheel_requires_no_mmcv_outside_the_lite_extra(wheel):
    meta, _ = _metadata(wheel)
    requires = meta.get_all('Requires-Dist')
    base = [r for r in requires if 'extra ==' not in r]
    assert sorted(map(_requirement_name, base)) == sorted(BASE_REQUIREMENTS)
    (lite,) = [Requirement(r) for r in requires if _requirement_name(r).startswith('mmcv')]
    asked = Requirement(se_plugin.MMCV_REQUIREMENT)  # what the import error asks for
    assert (lite.name, lite.specifier) == ('mmcv-lite', asked.specifier)
    assert str(lite.marker) == 'extra == "lite"'
    assert 'lite' in meta.get_all('Provides-Extra')
    assert meta['Version'] == se_plugin.__version__


@pytest.mark.slow
def test_wheel_carries_what_mim_reads(wheel):
    _, names = _metadata(wheel)
    mim = [n[len('se_plugin/.mim/') :] for n in names if n.startswith('se_plugin/.mim/')]
    assert 'model-index.yml' in mim
    assert 'configs/quickstart/se_resnet18_mnist5k.py' in mim
    assert 'tools/train.py' in mim and 'tools/test.py' in mim
    assert not [n for n in mim if '__pycache__' in n or n.endswith('.pyc')]


def _fake_environment(path, dists: dict) -> str:
    """A virtual environment whose site-packages holds only the metadata of ``dists``
    (name -> version): what pip's resolver sees as installed. Returns its python."""
    subprocess.run([sys.executable, '-m', 'venv', '--without-pip', str(path)], check=True)
    python = str(path / 'bin' / 'python')
    site = subprocess.run(
        [python, '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    for name, version in dists.items():
        info = os.path.join(site, f'{name.replace("-", "_")}-{version}.dist-info')
        os.makedirs(info)
        with open(os.path.join(info, 'METADATA'), 'w') as f:
            f.write(f'Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n')
    return python


@pytest.mark.slow
def test_pip_keeps_an_installed_full_mmcv(wheel, tmp_path):
    """Beside a full mmcv (and the other requirements), pip installs se_plugin alone.

    Offline (``--no-index``): a wheel that asked for mmcv-lite would fail to resolve here,
    and with an index it would install mmcv-lite over the full mmcv.
    """
    pins = _pins()
    dists = {name: pins[name] for name in BASE_REQUIREMENTS}
    python = _fake_environment(tmp_path / 'env', {**dists, 'mmcv': '2.1.0'})
    report = tmp_path / 'report.json'
    proc = _pip(
        '--python', python, 'install', '--dry-run', '--no-index', '--report', str(report),
        str(wheel),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    planned = [item['metadata']['name'] for item in json.loads(report.read_text())['install']]
    assert planned == ['se_plugin']


def test_import_without_mmcv_is_one_clear_line():
    code = "import sys; sys.modules['mmcv'] = None; import se_plugin"  # no mmcv to find
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f'ImportError: se_plugin needs {se_plugin.MMCV_REQUIREMENT} ')
    assert 'pip install ".[lite]"' in last and 'mim install "mmcv' in last
    assert 'During handling' not in proc.stderr and proc.stderr.count('Traceback') == 1
