"""End to end through the tools: train -> --resume -> test, on the embedded data."""

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.slow

TINY = [
    'train_dataloader.dataset.indices=96',
    'train_dataloader.batch_size=32',
    'val_dataloader.dataset.indices=64',
    'val_dataloader.batch_size=64',
    'train_cfg.val_interval=1',
    'default_hooks.logger.interval=1',
]


def run_tool(*args, cwd=REPO_ROOT):
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONUNBUFFERED='1')
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


@pytest.mark.parametrize(
    'config',
    ['configs/quickstart/se_resnet18_mnist5k.py', 'configs/quickstart/sknet_mnist5k.py'],
)
def test_train_resume_test(tmp_path, config):
    work = str(tmp_path / 'work')
    first = run_tool(
        'tools/train.py',
        config,
        '--work-dir',
        work,
        '--cfg-options',
        'train_cfg.max_epochs=1',
        *TINY,
    )
    assert first.returncode == 0, first.stderr[-3000:]
    assert os.path.isfile(os.path.join(work, 'epoch_1.pth'))
    # a quiet console: no config dump or hook table (they are in the log file), result last
    assert 'Config:' not in first.stdout and 'Hooks will be executed' not in first.stdout
    assert first.stdout.strip().splitlines()[-1].startswith('train: 1 epochs')
    assert 'accuracy/top1' in first.stdout.strip().splitlines()[-1]
    (log_file,) = [
        os.path.join(root, name)
        for root, _, names in os.walk(work)
        for name in names
        if name.endswith('.log')
    ]
    with open(log_file) as f:
        assert 'Config:' in f.read()

    resumed = run_tool(
        'tools/train.py',
        config,
        '--work-dir',
        work,
        '--resume',
        '--cfg-options',
        'train_cfg.max_epochs=2',
        *TINY,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    log = resumed.stdout + resumed.stderr
    assert 'resumed epoch: 1' in log
    assert 'Epoch(train) [1]' not in log and 'Epoch(train) [2]' in log
    with open(os.path.join(work, 'last_checkpoint')) as f:
        last = f.read().strip()
    assert last.endswith('epoch_2.pth')

    tested = run_tool(
        'tools/test.py',
        config,
        last,
        '--work-dir',
        str(tmp_path / 'test'),
        '--cfg-options',
        'test_dataloader.dataset.indices=64',
    )
    assert tested.returncode == 0, tested.stderr[-3000:]
    result = [line for line in tested.stdout.splitlines() if line.startswith('test: ')]
    assert result and 'accuracy/top1:' in result[0]
    top1 = float(result[0].split('accuracy/top1:')[1].split()[0])
    assert 0.0 <= top1 <= 100.0


def test_resume_from_explicit_checkpoint(tmp_path):
    config = 'configs/quickstart/se_resnet18_mnist5k.py'
    work = str(tmp_path / 'work')
    first = run_tool(
        'tools/train.py',
        config,
        '--work-dir',
        work,
        '--cfg-options',
        'train_cfg.max_epochs=1',
        *TINY,
    )
    assert first.returncode == 0, first.stderr[-3000:]
    ckpt = os.path.join(work, 'epoch_1.pth')
    again = run_tool(
        'tools/train.py',
        config,
        '--work-dir',
        str(tmp_path / 'other'),
        '--resume',
        ckpt,
        '--cfg-options',
        'train_cfg.max_epochs=2',
        *TINY,
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert 'resumed epoch: 1' in again.stdout + again.stderr

    # --resume on a fresh work dir with load_from: that file is used, never dropped
    fresh = run_tool(
        'tools/train.py',
        config,
        '--work-dir',
        str(tmp_path / 'fresh'),
        '--resume',
        '--cfg-options',
        f'load_from={ckpt}',
        'train_cfg.max_epochs=2',
        *TINY,
    )
    assert fresh.returncode == 0, fresh.stderr[-3000:]
    log = fresh.stdout + fresh.stderr
    assert f'resuming from load_from={ckpt}' in log and 'resumed epoch: 1' in log
    assert 'Epoch(train) [1]' not in log and 'Epoch(train) [2]' in log


def test_missing_imagenet_is_one_clear_line(tmp_path):
    config = os.path.join(REPO_ROOT, 'configs/se_resnet50_imagenet.py')
    result = run_tool(
        os.path.join(REPO_ROOT, 'tools/train.py'),
        config,
        '--work-dir',
        str(tmp_path / 'w'),
        cwd=str(tmp_path),
    )
    # run from an empty directory: the config is given by absolute path
    assert result.returncode == 2
    assert 'Traceback' not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "data_root is 'data/imagenet'" in lines[0]
    assert '--cfg-options train_dataloader.dataset.data_root=' in lines[0]


def test_missing_checkpoint_for_test_tool(tmp_path):
    result = run_tool(
        'tools/test.py', 'configs/quickstart/se_resnet18_mnist5k.py', str(tmp_path / 'nope.pth')
    )
    assert result.returncode == 2
    assert 'checkpoint not found' in result.stderr and 'Traceback' not in result.stderr


@pytest.mark.parametrize('epochs', [1, 3])
def test_smoke_run_shortens_the_whole_schedule(tmp_path, epochs):
    """``--max-epochs N``: warm-up and cosine both fit in N epochs (not the warm-up only)."""
    from se_plugin.cli import prepare_train_config

    cfg = prepare_train_config(
        os.path.join(REPO_ROOT, 'configs/quickstart/se_resnet18_mnist5k.py'),
        work_dir=str(tmp_path),
        max_epochs=epochs,
    )
    assert cfg.train_cfg.max_epochs == epochs
    warmup, cosine = cfg.param_scheduler
    assert warmup.end == cosine.begin == pytest.approx(epochs / 10)  # warm-up, then the decay
    assert cosine.end == pytest.approx(epochs)


ATTENTION_TWINS = sorted(
    name
    for name in os.listdir(os.path.join(REPO_ROOT, 'configs', 'quickstart', 'attention'))
    if name.endswith('_resnet18_mnist5k.py')
)


@pytest.mark.parametrize('name', ATTENTION_TWINS)
def test_attention_twins_train_and_test(tmp_path, name):
    """Each attention module's quick-start twin trains and tests through the tools."""
    config = f'configs/quickstart/attention/{name}'
    work = str(tmp_path / 'work')
    trained = run_tool(
        'tools/train.py', config, '--work-dir', work,
        '--cfg-options', 'train_cfg.max_epochs=1', *TINY,
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr[-3000:]
    checkpoint = os.path.join(work, 'epoch_1.pth')
    tested = run_tool(
        'tools/test.py', config, checkpoint, '--work-dir', str(tmp_path / 'test'),
        '--cfg-options', 'test_dataloader.dataset.indices=32',
    )  # fmt: skip
    assert tested.returncode == 0, tested.stderr[-3000:]
    assert any(line.startswith('test: ') for line in tested.stdout.splitlines())
