"""What the tools print by default: progress, results, one line per decision; no
third-party notices, loader chatter or per-parameter listings (the log file keeps
them; ``--verbose`` shows them). Real subprocesses on tiny configs."""

import glob
import os
import re
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.slow

QUICKSTART = 'configs/quickstart/se_resnet18_mnist5k.py'
FINETUNE = 'configs/finetune/se_resnet50_converted_mnist5k.py'
TINY = [
    '--cfg-options',
    'train_dataloader.dataset.indices=32',
    'train_dataloader.batch_size=16',
    'val_dataloader.dataset.indices=16',
    'val_dataloader.batch_size=16',
    'test_dataloader.dataset.indices=16',
    'test_dataloader.batch_size=16',
]
# mmengine's progress lines and se_plugin's own summaries
PROGRESS = re.compile(
    r'^\d\d/\d\d \d\d:\d\d:\d\d - mmengine - INFO - '
    r'(Epoch\((train|val|test)\)|Saving checkpoint|checkpoint \S+: loaded \d+/\d+ tensors)'
)
NOISE = ('Warning', 'warnings.warn', 'Loads checkpoint', 'paramwise_options', 'Config:')


def run(*args):
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONUNBUFFERED='1')
    proc = subprocess.run(
        [sys.executable, *map(str, args)],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]


def quiet(lines, *own):
    """Every line is progress or one of the tool's own lines (prefixes ``own``)."""
    unexpected = [line for line in lines if not PROGRESS.match(line) and not line.startswith(own)]
    assert unexpected == [], unexpected
    assert not [line for line in lines if any(noise in line for noise in NOISE)]


def said(lines, text) -> bool:
    return any(text in line for line in lines)


def log_text(work_dir) -> str:
    logs = glob.glob(os.path.join(work_dir, '*', '*.log'))
    assert logs, work_dir
    return open(sorted(logs)[-1]).read()


def test_train_resume_and_test_are_quiet(tmp_path):
    work = tmp_path / 'work'
    lines = run(
        'tools/train.py', QUICKSTART, '--work-dir', work, '--resume', '--max-epochs', '1', *TINY
    )
    assert lines[0] == f'--resume: nothing to resume in {work}: training starts from scratch'
    quiet(lines[1:], 'train: ')
    checkpoint = work / 'epoch_1.pth'
    lines = run('tools/test.py', QUICKSTART, checkpoint, '--work-dir', tmp_path / 'test', *TINY)
    quiet(lines, 'test: ')
    assert 'Loads checkpoint by' in log_text(tmp_path / 'test')  # in the log, not on the console
    verbose = run(
        'tools/test.py', QUICKSTART, checkpoint, '--work-dir', tmp_path / 'v', '--verbose', *TINY
    )
    assert said(verbose, 'Loads checkpoint by') and said(verbose, 'Config:')


def test_export_is_quiet_and_verbose_shows_torchs_notices(tmp_path):
    out = tmp_path / 'model.pt'
    lines = run('tools/export.py', QUICKSTART, '--out', out, '--format', 'torchscript')
    quiet(lines, f'saved {out}', '  input ')
    assert not said(lines, 'TracerWarning')
    verbose = run(
        'tools/export.py', QUICKSTART, '--out', out, '--format', 'torchscript', '--verbose'
    )
    assert said(verbose, '`torch.jit.trace` is deprecated')
    assert not said(verbose, 'TracerWarning')  # fixed where it arose


def test_fine_tune_lists_no_parameters(tmp_path):
    work = tmp_path / 'ft'
    lines = run(
        'tools/train.py', FINETUNE, '--work-dir', work, '--max-epochs', '1',
        *TINY, 'model.backbone.init_cfg=None',
    )  # fmt: skip
    quiet(lines, 'train: ')
    assert log_text(work).count('paramwise_options --') > 100  # every parameter, in the log


def test_mmengine_config_bases_are_quiet(tmp_path):
    """``mmpretrain::`` (and mmdet::, mmseg::) bases go through pkg_resources."""
    config = tmp_path / 'base.py'
    config.write_text("_base_ = ['mmpretrain::_base_/models/resnet18.py']\n")
    lines = run('tools/analysis/complexity.py', config, '--shape', '32')
    quiet(lines, '|')
    verbose = run('tools/analysis/complexity.py', config, '--shape', '32', '--verbose')
    assert said(verbose, 'pkg_resources is deprecated')
