"""tools/quickstart.sh: trains, then tests the checkpoint of the folder it trained into."""

import os
import subprocess

import pytest
from helpers import copy_checkout

pytestmark = pytest.mark.slow

TINY = [
    '--cfg-options',
    f'train_dataloader.dataset.indices={list(range(0, 4000, 125))}',
    'train_dataloader.batch_size=16',
    'train_cfg.max_epochs=1',
]


@pytest.mark.parametrize('form', ['--work-dir W', '--work-dir=W'])
def test_work_dir_option_is_where_it_trains_and_tests(tmp_path, form):
    repo = copy_checkout(tmp_path / 'repo')
    work = tmp_path / 'mine'
    option = ['--work-dir', str(work)] if ' ' in form else [f'--work-dir={work}']
    env = {k: v for k, v in os.environ.items() if k != 'WORK_DIR'}
    config = 'configs/quickstart/se_resnet18_mnist5k.py'
    proc = subprocess.run(
        ['bash', 'tools/quickstart.sh', config, *option, *TINY],
        cwd=repo, env=env, capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (work / 'last_checkpoint').read_text().strip() == str(work / 'epoch_1.pth')
    result = (work / 'test_result.txt').read_text().strip().splitlines()[-1]
    assert result.startswith('test: accuracy/top1: ')
    assert not os.path.exists(os.path.join(repo, 'work_dirs', 'quickstart'))
    assert (
        proc.stdout.strip().splitlines()[-1].startswith('quick start: se_resnet18_mnist5k  test: ')
    )
