"""Crash-safe saving and resuming, in-process with a toy model (fast).

The end-to-end version with SIGKILL is tests/tools/test_crash_resume.py.
"""

import copy
import logging
import os

import pytest
import torch
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch.utils.data import Dataset

from se_plugin.runtime import atomic
from se_plugin.runtime.atomic import atomic_write_bytes, atomic_write_text, remove_stale_temp_files
from se_plugin.runtime.checkpoint import check_resumable, find_resumable_checkpoint
from se_plugin.runtime.checkpoint_hook import AtomicCheckpointHook, AtomicLocalBackend
from se_plugin.runtime.loops import ResumableEpochBasedTrainLoop

# --- atomic writes ---------------------------------------------------------------------


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path):
    path = tmp_path / 'sub' / 'f.bin'
    atomic_write_bytes(b'one', path)
    atomic_write_bytes(b'two', path)
    assert path.read_bytes() == b'two'
    assert os.listdir(path.parent) == ['f.bin']
    mask = os.umask(0)
    os.umask(mask)
    assert (path.stat().st_mode & 0o777) == 0o666 & ~mask


def test_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / 'last_checkpoint'
    atomic_write_text('/old/epoch_1.pth', path)

    def broken_fsync(fd):
        raise OSError(28, 'No space left on device')

    monkeypatch.setattr(atomic.os, 'fsync', broken_fsync)
    with pytest.raises(OSError, match='No space left'):
        atomic_write_text('/new/epoch_2.pth', path)
    assert path.read_text() == '/old/epoch_1.pth'
    assert os.listdir(tmp_path) == ['last_checkpoint']  # temp file removed


def test_backend_put_is_atomic(tmp_path):
    backend = AtomicLocalBackend()
    backend.put(b'abc', tmp_path / 'x.pth')
    backend.put_text('hi', tmp_path / 'y.txt')
    assert (tmp_path / 'x.pth').read_bytes() == b'abc' and (tmp_path / 'y.txt').read_text() == 'hi'


def test_remove_stale_temp_files_only_removes_ours(tmp_path):
    ours = tmp_path / '.epoch_3.pth.1234-0a1b2c3d.tmp'
    theirs = [tmp_path / '.notes.tmp', tmp_path / 'epoch_3.pth', tmp_path / '.x.12-ab.tmp']
    for f in [ours, *theirs]:
        f.write_bytes(b'')
    assert remove_stale_temp_files(tmp_path) == [str(ours)]
    assert all(f.exists() for f in theirs)


def test_hook_uses_the_atomic_backend_for_local_dirs_only():
    assert AtomicCheckpointHook(interval=1).backend_args == {'backend': 'se_plugin_atomic_local'}
    assert AtomicCheckpointHook(interval=1, out_dir='s3://bucket/ckpts').backend_args is None
    custom = {'backend': 'local'}
    assert AtomicCheckpointHook(interval=1, backend_args=custom).backend_args == custom


# --- a toy Runner ----------------------------------------------------------------------


class ToyModel(BaseModel):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(2, 1)

    def forward(self, inputs, labels=None, mode='tensor'):
        out = self.linear(torch.stack(inputs))
        if mode == 'loss':
            return {'loss': ((out.squeeze(1) - torch.stack(labels)) ** 2).mean()}
        return out


class ToyData(Dataset):
    def __init__(self):
        g = torch.Generator().manual_seed(0)
        self.x, self.y = torch.randn(16, 2, generator=g), torch.randn(16, generator=g)

    def __len__(self):
        return 16

    def __getitem__(self, i):
        return dict(inputs=self.x[i], labels=self.y[i])


_runs = iter(range(10**6))


def toy_runner(work_dir, loop='se_plugin.ResumableEpochBasedTrainLoop', max_keep=1, **overrides):
    train_cfg = dict(max_epochs=2)
    if loop is None:
        train_cfg['by_epoch'] = True
    else:
        train_cfg['type'] = loop
    cfg = dict(
        model=ToyModel(),
        work_dir=str(work_dir),
        experiment_name=f'toy_{next(_runs)}',
        train_dataloader=dict(
            dataset=ToyData(),
            sampler=dict(type='DefaultSampler', shuffle=True),
            batch_size=4,
            num_workers=0,
        ),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.05, momentum=0.9)),
        train_cfg=train_cfg,
        default_hooks=dict(
            checkpoint=dict(
                type='se_plugin.AtomicCheckpointHook',
                by_epoch=False,
                interval=3,
                max_keep_ckpts=max_keep,
            ),
            logger=dict(type='LoggerHook', interval=1),
        ),
        randomness=dict(seed=0),
        default_scope='se_plugin',
        log_level='WARNING',
    )
    cfg.update(overrides)
    return Runner(**cfg)


def weights(path):
    return check_resumable(str(path))['state_dict']['linear.weight']


def test_save_then_pointer_then_delete(tmp_path, monkeypatch):
    """mmengine deletes the old checkpoint before writing the new one: a failed
    save left nothing to resume from. Here the old one survives the failure."""
    runner = toy_runner(tmp_path)
    save = runner.save_checkpoint
    calls = []

    def failing_second_save(*args, **kwargs):
        calls.append(args[1])
        if len(calls) == 2:
            raise OSError('disk full')
        return save(*args, **kwargs)

    monkeypatch.setattr(runner, 'save_checkpoint', failing_second_save)
    with pytest.raises(OSError, match='disk full'):
        runner.train()
    assert calls == ['iter_3.pth', 'iter_6.pth']
    assert (tmp_path / 'last_checkpoint').read_text() == str(tmp_path / 'iter_3.pth')
    assert sorted(p.name for p in tmp_path.glob('*.pth')) == ['iter_3.pth']
    assert find_resumable_checkpoint(str(tmp_path)) == str(tmp_path / 'iter_3.pth')


def test_resume_mid_epoch_equals_uninterrupted_run(tmp_path):
    toy_runner(tmp_path / 'full').train()
    # a run "killed" after iteration 5 (epoch 2, batch 1): resume from iter_3 (epoch 1, batch 3)
    toy_runner(tmp_path / 'cut', max_keep=-1).train()
    for f in ('iter_6.pth', 'iter_8.pth'):
        os.remove(tmp_path / 'cut' / f)
    atomic_write_text(str(tmp_path / 'cut' / 'iter_3.pth'), tmp_path / 'cut' / 'last_checkpoint')
    resumed = toy_runner(tmp_path / 'cut', resume=True)
    resumed.train()
    assert isinstance(resumed.train_loop, ResumableEpochBasedTrainLoop)
    assert resumed.iter == 8
    assert torch.equal(weights(tmp_path / 'cut/iter_8.pth'), weights(tmp_path / 'full/iter_8.pth'))


def test_mmengine_epoch_loop_repeats_the_resumed_epoch(tmp_path):
    """Why ResumableEpochBasedTrainLoop exists: mmengine's loop retrains all of it."""
    toy_runner(tmp_path, loop=None, max_keep=-1).train()
    atomic_write_text(str(tmp_path / 'iter_3.pth'), tmp_path / 'last_checkpoint')
    resumed = toy_runner(tmp_path, loop=None, resume=True)
    resumed.train()
    assert resumed.iter == 3 + 4 + 4  # 11 iterations of an 8-iteration schedule


# --- --resume auto: which checkpoint -------------------------------------------------


def _ckpt(path, **extra):
    torch.save(
        dict(
            meta={'epoch': 1, 'iter': 1}, state_dict={'w': torch.zeros(1)}, message_hub={}, **extra
        ),
        path,
    )
    return str(path)


@pytest.fixture
def warnings_seen():
    seen = []
    return seen, seen.append


def test_valid_pointer_is_used(tmp_path, warnings_seen):
    seen, warn = warnings_seen
    old = _ckpt(tmp_path / 'epoch_1.pth')
    _ckpt(tmp_path / 'epoch_2.pth')  # newer, but the pointer decides
    atomic_write_text(old, tmp_path / 'last_checkpoint')
    assert find_resumable_checkpoint(str(tmp_path), warn) == old
    assert seen == []


@pytest.mark.parametrize('pointer', ['missing', 'empty', 'truncated', 'garbage', 'no_pointer'])
def test_bad_pointer_falls_back_to_newest_loadable(tmp_path, warnings_seen, pointer):
    seen, warn = warnings_seen
    older = _ckpt(tmp_path / 'epoch_1.pth')
    newest = _ckpt(tmp_path / 'epoch_2.pth')
    broken = tmp_path / 'epoch_3.pth'
    _ckpt(broken)
    data = broken.read_bytes()
    broken.write_bytes(data[: len(data) // 2])  # the newest file is unusable
    _ckpt(tmp_path / 'best_accuracy_epoch_9.pth')  # never resumed from
    torch.save({'meta': {}, 'state_dict': {}}, tmp_path / 'epoch_9-0123abcd.pth')  # published
    for i, name in enumerate(['epoch_1.pth', 'epoch_2.pth', 'epoch_3.pth']):
        os.utime(tmp_path / name, (1000 + i, 1000 + i))
    for i, name in enumerate(['best_accuracy_epoch_9.pth', 'epoch_9-0123abcd.pth']):
        os.utime(tmp_path / name, (2000 + i, 2000 + i))
    content = {
        'missing': str(tmp_path / 'epoch_7.pth'),
        'empty': '',
        'truncated': str(broken),
        'garbage': '\x00\x01 not a path',
    }
    if pointer != 'no_pointer':
        (tmp_path / 'last_checkpoint').write_text(content[pointer])
    assert find_resumable_checkpoint(str(tmp_path), warn) == newest
    assert len(seen) == 1 and f'resuming from {newest}' in seen[0]
    assert 'epoch_3.pth' in seen[0]  # says which file it skipped and why
    assert older != newest


def test_nothing_to_resume(tmp_path, warnings_seen):
    seen, warn = warnings_seen
    assert find_resumable_checkpoint(str(tmp_path), warn) is None
    assert seen == []
    (tmp_path / 'epoch_1.pth').write_bytes(b'junk')
    assert find_resumable_checkpoint(str(tmp_path), warn) is None
    assert 'starts from scratch' in seen[0] and 'epoch_1.pth' in seen[0]


def test_default_warning_goes_to_the_mmengine_logger(tmp_path, monkeypatch):
    from se_plugin.runtime import checkpoint

    logged = []
    monkeypatch.setattr(checkpoint, 'print_log', lambda msg, **kw: logged.append((msg, kw)))
    newest = _ckpt(tmp_path / 'epoch_2.pth')
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'gone.pth'))
    assert find_resumable_checkpoint(str(tmp_path)) == newest
    ((msg, kw),) = logged
    assert 'gone.pth' in msg and kw == {'logger': 'current', 'level': logging.WARNING}


def test_pointer_to_other_out_dir(tmp_path, warnings_seen):
    """CheckpointHook(out_dir=...) keeps checkpoints outside the work dir."""
    seen, warn = warnings_seen
    out = tmp_path / 'out'
    out.mkdir()
    good = _ckpt(out / 'epoch_1.pth')
    (tmp_path / 'last_checkpoint').write_text(str(out / 'epoch_2.pth'))  # never written
    assert find_resumable_checkpoint(str(tmp_path), warn) == good
    assert copy.copy(seen) and 'epoch_2.pth' in seen[0]
