"""tools/dist_test.sh (2 CPU processes, gloo), tools/slurm_train.sh, tools/slurm_test.sh.

``dist_test.sh`` really runs: two processes each test half of 64 MNIST-5k
digits with a checkpoint and mmengine gathers the predictions; top-1 must
equal the single-process ``tools/test.py`` run's exactly. The Slurm launchers
run with a stand-in ``srun`` on ``PATH`` that records its arguments (there is no
Slurm here): the OpenMMLab signature, environment variables and the command
each task would run are checked; without ``srun`` they end with one line.
"""

import os
import shutil
import socket
import subprocess
import sys

import pytest
import torch

from se_plugin.analysis.complexity import build_model
from se_plugin.cli import load_config

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
QUICKSTART = os.path.join(REPO, 'configs', 'quickstart', 'se_resnet18_mnist5k.py')
CONFIG = f"""
_base_ = [{QUICKSTART!r}]
# the split is sorted by class: spread indices give all ten digits
test_dataloader = dict(batch_size=16, dataset=dict(indices=list(range(0, 1000, 16))))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _run(cmd, **env):
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHON=sys.executable, **env)
    env['PYTHONPATH'] = REPO
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO, timeout=300)


def _top1(proc) -> float:
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    line = [s for s in proc.stdout.splitlines() if s.startswith('test: ')][-1]
    return float(line.split('accuracy/top1:')[1].split()[0])


@pytest.fixture(scope='module')
def config_and_checkpoint(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('launch')
    config = tmp / 'cfg.py'
    config.write_text(CONFIG)
    torch.manual_seed(0)
    model = build_model(load_config(str(config)))
    checkpoint = tmp / 'random.pth'
    torch.save({'state_dict': model.state_dict()}, checkpoint)
    return config, checkpoint, tmp


@pytest.mark.slow
def test_dist_test_two_gloo_processes_equal_one(config_and_checkpoint):
    config, checkpoint, tmp = config_and_checkpoint
    test_py = os.path.join(REPO, 'tools', 'test.py')
    single = _run([sys.executable, test_py, config, checkpoint, '--work-dir', tmp / 'one'])
    dist_sh = os.path.join(REPO, 'tools', 'dist_test.sh')
    dist = _run(
        ['bash', dist_sh, config, checkpoint, '2', '--work-dir', tmp / 'two'],
        PORT=str(_free_port()),
    )
    assert 'gloo process group on CPU: rank 0 of 2' in dist.stdout + dist.stderr
    assert _top1(dist) == _top1(single)


@pytest.mark.parametrize(
    'script, fourth, tool',
    [('slurm_train.sh', 'work_dirs/x', 'train.py'), ('slurm_test.sh', 'ckpt.pth', 'test.py')],
)
def test_slurm_launchers_call_srun_the_openmmlab_way(script, fourth, tool, tmp_path):
    fake = tmp_path / 'bin'
    fake.mkdir()
    (fake / 'srun').write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "$SRUN_LOG"\n')
    (fake / 'srun').chmod(0o755)
    log = tmp_path / 'srun.log'
    proc = _run(
        ['bash', os.path.join(REPO, 'tools', script), 'gpu', 'job1', 'cfg.py', fourth, '--x', 'y'],
        PATH=f'{fake}:{os.environ["PATH"]}',
        SRUN_LOG=str(log),
        GPUS='16',
        GPUS_PER_NODE='4',
        SRUN_ARGS='--quotatype=auto --time=1:00:00',
    )
    assert proc.returncode == 0, proc.stderr
    args = log.read_text().splitlines()
    assert args[:8] == [
        '-p',
        'gpu',
        '--job-name=job1',
        '--gres=gpu:4',
        '--ntasks=16',
        '--ntasks-per-node=4',
        '--cpus-per-task=5',
        '--kill-on-bad-exit=1',
    ]
    assert args[8:10] == ['--quotatype=auto', '--time=1:00:00']
    assert args[10:12] == [sys.executable, '-u'] and args[12].endswith(f'tools/{tool}')
    expected = ['--work-dir=work_dirs/x'] if tool == 'train.py' else ['ckpt.pth']
    assert args[13:] == ['cfg.py', *expected, '--launcher=slurm', '--x', 'y']


@pytest.mark.parametrize(
    'script, args',
    [
        ('dist_test.sh', ['cfg.py', 'ckpt.pth']),
        ('slurm_train.sh', ['gpu', 'job', 'cfg.py']),
        ('slurm_test.sh', ['gpu', 'job']),
    ],
)
def test_missing_arguments_print_usage(script, args):
    proc = _run(['bash', os.path.join(REPO, 'tools', script), *args])
    assert proc.returncode != 0 and f'usage: tools/{script}' in proc.stderr


@pytest.mark.slow
def test_quickstart_tests_the_checkpoint_it_trained_in_its_work_dir(tmp_path):
    name = f'qs_{os.getpid()}_{tmp_path.name}'  # its default work dir must stay untouched
    config = tmp_path / f'{name}.py'
    config.write_text(
        f'_base_ = [{QUICKSTART!r}]\n'
        'train_dataloader = dict(batch_size=8, dataset=dict(indices=16))\n'
        'val_dataloader = dict(dataset=dict(indices=16))\n'
        'test_dataloader = dict(dataset=dict(indices=list(range(0, 1000, 50))))\n'
        'train_cfg = dict(max_epochs=1)\n'
    )
    work = tmp_path / 'w'
    proc = _run(['bash', 'tools/quickstart.sh', str(config), '--work-dir', str(work)])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    checkpoint = (work / 'last_checkpoint').read_text().strip()
    assert checkpoint == str(work / 'epoch_1.pth')
    result = (work / 'test_result.txt').read_text().splitlines()
    assert result[-1].startswith('test: accuracy/top1: ')
    assert f'quick start: {name}  test: accuracy/top1: ' in proc.stdout
    assert not os.path.exists(os.path.join(REPO, 'work_dirs', 'quickstart', name))


@pytest.mark.parametrize('script', ['slurm_train.sh', 'slurm_test.sh'])
def test_slurm_launchers_without_srun_say_so(script, tmp_path):
    """No Slurm: one line naming srun and the launcher to use instead, exit 2."""
    bash = shutil.which('bash')
    proc = _run([bash, os.path.join(REPO, 'tools', script), 'gpu', 'job', 'cfg.py', 'x'],
                PATH=str(tmp_path))  # fmt: skip
    assert proc.returncode == 2
    assert (
        proc.stderr.startswith('error: srun not found on PATH: ') and 'tools/dist_' in proc.stderr
    )
    assert len(proc.stderr.splitlines()) == 1 and proc.stdout == ''
