"""mim (openmim) reads the installed package: ``mim search / train / test se_plugin``.

A copy of the checkout is installed the way a user installs it (``pip install``,
a wheel build, so setup.py copies configs, tools and model-index.yml into
``se_plugin/.mim``; the build writes into the copy, never into the checkout), into
a temporary folder put first on ``PYTHONPATH``; mim then finds that installation
and runs its tools on a tiny MNIST-5k run.
"""

import os
import subprocess
import sys

import pytest
import yaml
from helpers import copy_checkout

from se_plugin.analysis.metafile import FAMILIES

pytestmark = pytest.mark.slow

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = [
    '--cfg-options',
    f'train_dataloader.dataset.indices={list(range(0, 4000, 125))}',
    f'test_dataloader.dataset.indices={list(range(0, 1000, 50))}',
    'train_dataloader.batch_size=16',
    'train_cfg.max_epochs=1',
]


@pytest.fixture(scope='module')
def installed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('mim')
    target, src = tmp / 'site', copy_checkout(tmp / 'src')
    cmd = [sys.executable, '-m', 'pip', 'install', '-q', '--no-deps', '--no-build-isolation']
    proc = subprocess.run(
        [*cmd, '--target', str(target), src], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (target / 'se_plugin' / '.mim' / 'model-index.yml').is_file()
    return target


def _mim(installed, *args, cwd):
    env = dict(os.environ, PYTHONPATH=str(installed), OMP_NUM_THREADS='1')
    env.pop('SE_PLUGIN_DEBUG', None)
    return subprocess.run(
        [sys.executable, '-m', 'mim', *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=400,
    )


def test_mim_search_lists_every_model(installed, tmp_path):
    proc = _mim(installed, 'search', 'se_plugin', cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ids = [
        line.split(': ', 1)[1] for line in proc.stdout.splitlines() if line.startswith('config id:')
    ]
    expected = {}
    for family in FAMILIES:
        with open(os.path.join(REPO, 'configs', family, 'metafile.yml')) as f:
            expected.update({m['Name']: m for m in yaml.safe_load(f)['Models']})
    assert sorted(ids) == sorted(expected)
    block = proc.stdout.split('config id: se_resnet50_imagenet\n', 1)[1].split('-' * 20, 1)[0]
    assert 'parameters                         28088024' in block


def test_mim_train_and_test(installed, tmp_path):
    work = tmp_path / 'work'
    proc = _mim(
        installed, 'train', 'se_plugin', 'se_resnet18_mnist5k.py', '--work-dir', work, *TINY,
        cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert str(installed) in proc.stdout  # the installed config and tools/train.py were used
    checkpoint = work / 'epoch_1.pth'
    assert checkpoint.is_file()
    proc = _mim(
        installed, 'test', 'se_plugin', 'se_resnet18_mnist5k.py', '--checkpoint', checkpoint,
        '--work-dir', tmp_path / 'test', *TINY, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert 'test: accuracy/top1: ' in proc.stdout
