"""kill -9 a real training run at chosen moments; ``--resume auto`` must continue it exactly.

A tiny SE-ResNet-18 trains 3 epochs of 8 iterations on 64 embedded MNIST-5k
digits with iteration checkpoints every 3 iterations (``max_keep_ckpts=1``,
the quick start's setting, under which mmengine's own hook deletes the only
good checkpoint before writing the next one). The run is SIGKILLed four
times, each time at a point where it is parked on purpose:

1. while a checkpoint is being written (its temp file cut to half its size),
2. during validation,
3. mid-epoch, between two training iterations,
4. while the ``last_checkpoint`` pointer is being replaced;

and before the last resume the pointer is damaged, so ``--resume auto`` has to
fall back to the newest loadable checkpoint. After every kill the work dir's
``last_checkpoint`` names a complete, loadable checkpoint. With a seed,
deterministic algorithms, no random augmentation and ``num_workers=0``, the
final weights and optimizer state are bit-identical to an uninterrupted run.

The parking is done by a small launcher written into the test's temp dir; it
patches only the child process (test instrumentation, none of it in se_plugin).
"""

import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from se_plugin.runtime.checkpoint import load_checkpoint_file

pytestmark = pytest.mark.slow

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

CONFIG = f"""
_base_ = [{os.path.join(REPO, 'configs/quickstart/se_resnet18_mnist5k.py')!r}]
# widths pinned here (not inherited): small and independent of quick-start recipe changes
model = dict(
    backbone=dict(base_channels=16, stem_channels=16, strides=(1, 2, 2, 2)),
    head=dict(in_channels=128),
)
train_dataloader = dict(
    batch_size=8,
    dataset=dict(indices=list(range(0, 4000, 63)), pipeline=[dict(type='PackInputs')]),
)
# the split is sorted by class: spread indices give all ten digits
val_dataloader = dict(batch_size=32, dataset=dict(indices=list(range(0, 1000, 32))))
test_dataloader = val_dataloader
train_cfg = dict(max_epochs=3, val_interval=1)
default_hooks = dict(
    logger=dict(interval=1),
    checkpoint=dict(by_epoch=False, interval=3, max_keep_ckpts=1),
)
randomness = dict(seed=0, deterministic=True)
"""

# Parks the training process (writes MARKER, then sleeps) at SE_KILL_AT:
#   iter:N     before training iteration N + 1 (N iterations done)
#   val:E      during the validation after epoch E
#   save:NAME  while NAME is written atomically (temp file cut to half first)
LAUNCHER = r"""
import os, runpy, sys, time

kind, _, arg = os.environ['SE_KILL_AT'].partition(':')
marker = os.environ['SE_KILL_MARKER']


def park(tag):
    with open(marker, 'w') as f:
        f.write(tag)
    time.sleep(600)


if kind == 'iter':
    from mmengine.runner import EpochBasedTrainLoop

    run_iter = EpochBasedTrainLoop.run_iter

    def parked_run_iter(self, idx, data_batch):
        if self._iter == int(arg):
            park(f'iter {self._iter}')
        run_iter(self, idx, data_batch)

    EpochBasedTrainLoop.run_iter = parked_run_iter
elif kind == 'val':
    from mmengine.runner import ValLoop

    val_iter = ValLoop.run_iter

    def parked_val_iter(self, idx, data_batch):
        if self.runner.epoch == int(arg):
            park(f'val {self.runner.epoch}')
        val_iter(self, idx, data_batch)

    ValLoop.run_iter = parked_val_iter
elif kind == 'save':
    fsync = os.fsync

    def parked_fsync(fd):
        path = os.readlink(f'/proc/self/fd/{fd}')
        if os.path.basename(path).startswith(f'.{arg}.') and path.endswith('.tmp'):
            os.ftruncate(fd, os.fstat(fd).st_size // 2)
            park(f'save {path}')
        fsync(fd)

    os.fsync = parked_fsync

sys.argv = [sys.argv[1], *sys.argv[2:]]
runpy.run_path(sys.argv[0], run_name='__main__')
"""


def _env():
    return dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=REPO)


def _train_cmd(launcher, config, work_dir, resume):
    cmd = [sys.executable, str(launcher), os.path.join(REPO, 'tools/train.py'), str(config)]
    cmd += ['--work-dir', str(work_dir)]
    return cmd + (['--resume', 'auto'] if resume else [])


def _run_until_parked(launcher, config, work_dir, kill_at, marker, resume, timeout=240):
    """Start a run, wait until it parks at ``kill_at``, SIGKILL it; return its stderr."""
    if marker.exists():
        marker.unlink()
    log = work_dir.parent / f'{kill_at.replace(":", "_")}.log'
    env = dict(_env(), SE_KILL_AT=kill_at, SE_KILL_MARKER=str(marker))
    with open(log, 'w') as out:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(
            _train_cmd(launcher, config, work_dir, resume),
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=REPO,
        )
    deadline = time.monotonic() + timeout
    try:
        while not marker.exists():
            if proc.poll() is not None:
                tail = log.read_text()[-4000:]
                pytest.fail(f'run ended (rc={proc.returncode}) before {kill_at}:\n{tail}')
            if time.monotonic() > deadline:
                pytest.fail(f'run did not reach {kill_at} within {timeout}s')
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return log.read_text()


def _last_checkpoint(work_dir):
    """The file ``last_checkpoint`` names; it must load."""
    target = (work_dir / 'last_checkpoint').read_text().strip()
    ckpt = load_checkpoint_file(target)
    assert {'meta', 'state_dict', 'optimizer', 'message_hub'} <= set(ckpt)
    return os.path.basename(target), ckpt


def _assert_same_state(a, b):
    assert a['meta']['epoch'] == b['meta']['epoch'] and a['meta']['iter'] == b['meta']['iter']
    assert a['state_dict'].keys() == b['state_dict'].keys()
    for key in a['state_dict']:
        assert torch.equal(a['state_dict'][key], b['state_dict'][key]), key
    opt_a, opt_b = a['optimizer']['state'], b['optimizer']['state']
    assert opt_a.keys() == opt_b.keys()
    for pid in opt_a:
        for name, value in opt_a[pid].items():
            assert torch.equal(torch.as_tensor(value), torch.as_tensor(opt_b[pid][name])), (
                pid,
                name,
            )


def test_kill9_at_four_moments_then_resume_matches_uninterrupted_run(tmp_path):
    config = tmp_path / 'crash_cfg.py'
    config.write_text(CONFIG)
    launcher = tmp_path / 'park_and_run.py'
    launcher.write_text(LAUNCHER)
    marker = tmp_path / 'parked'
    ref_dir, work = tmp_path / 'reference', tmp_path / 'interrupted'
    work.mkdir()

    # the uninterrupted run, alongside the first interrupted one
    ref_log = tmp_path / 'reference.log'
    with open(ref_log, 'w') as out:
        reference = subprocess.Popen(
            _train_cmd(launcher, config, ref_dir, resume=False),
            stdout=out,
            stderr=subprocess.STDOUT,
            env=dict(_env(), SE_KILL_AT='none:0', SE_KILL_MARKER=str(tmp_path / 'never')),
            cwd=REPO,
        )

    # 1. during the save of iter_9.pth (half-written temp file): iter_6 stays last
    _run_until_parked(launcher, config, work, 'save:iter_9.pth', marker, resume=False)
    name, _ = _last_checkpoint(work)
    assert name == 'iter_6.pth'
    assert not (work / 'iter_9.pth').exists()
    assert any(p.name.startswith('.iter_9.pth.') for p in work.iterdir())  # the cut temp file

    # 2. during validation after epoch 2 (resumed mid-epoch 1 from iter_6)
    log = _run_until_parked(launcher, config, work, 'val:2', marker, resume=True)
    assert 'skipping the 6 batches already trained' in log
    assert not any(p.name.endswith('.tmp') for p in work.iterdir())  # stale temp removed
    assert _last_checkpoint(work)[0] == 'iter_15.pth'
    assert sorted(p.name for p in work.glob('*.pth')) == ['iter_15.pth']

    # 3. mid-epoch 3, after 20 of 24 iterations
    log = _run_until_parked(launcher, config, work, 'iter:20', marker, resume=True)
    assert 'skipping the 7 batches already trained' in log
    assert _last_checkpoint(work)[0] == 'iter_18.pth'

    # 4. while last_checkpoint is replaced after iter_21.pth: the old pointer stays valid
    _run_until_parked(launcher, config, work, 'save:last_checkpoint', marker, resume=True)
    assert _last_checkpoint(work)[0] == 'iter_18.pth'
    assert load_checkpoint_file(str(work / 'iter_21.pth'))['meta']['iter'] == 21

    # a damaged pointer: --resume auto falls back to the newest loadable checkpoint
    (work / 'last_checkpoint').write_text(str(work / 'iter_99.pth'))
    final = subprocess.run(
        _train_cmd(launcher, config, work, resume=True),
        capture_output=True,
        text=True,
        env=dict(_env(), SE_KILL_AT='none:0', SE_KILL_MARKER=str(tmp_path / 'never')),
        cwd=REPO,
        timeout=300,
    )
    assert final.returncode == 0, final.stdout[-3000:] + final.stderr[-3000:]
    output = final.stdout + final.stderr
    assert 'resuming from' in output and 'iter_21.pth, the newest loadable checkpoint' in output
    assert 'skipping the 5 batches already trained' in output

    assert reference.wait(timeout=300) == 0, ref_log.read_text()[-3000:]
    ref_name, ref_ckpt = _last_checkpoint(ref_dir)
    name, ckpt = _last_checkpoint(work)
    assert name == ref_name == 'iter_24.pth'
    _assert_same_state(ckpt, ref_ckpt)
