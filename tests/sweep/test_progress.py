"""se_plugin.sweep.progress: the JSON-lines channel from worker to launcher."""

import io
import json
from types import SimpleNamespace

import pytest
import torch

from se_plugin.sweep.progress import (
    Progress,
    ProgressHook,
    ProgressReader,
    hms,
    progress_status,
)


def test_progress_status():
    record = {'phase': 'train', 'epoch': 1, 'batch': 20, 'batches': 63, 'loss': 2.2966}
    fraction, text = progress_status(dict(record, iter=20, max_iters=126), ('epoch', 2))
    assert text == 'epoch 1/2 [20/63] loss 2.2966'
    assert 0.15 < fraction < 0.16
    record = {'phase': 'train', 'iter': 50, 'max_iters': 100, 'loss': 1.0}
    assert progress_status(record, ('iter', 100)) == (0.485, 'iter [50/100] loss 1.0000')
    assert progress_status({'phase': 'test', 'batch': 2, 'batches': 4}, ('epoch', 2))[1] == (
        'test [2/4]'
    )
    assert progress_status({'phase': 'train', 'epoch': 3}, ('epoch', 2)) is None
    assert progress_status({'phase': 'val', 'batch': 1, 'batches': 2}, ('epoch', 2)) is None
    assert progress_status({}, ('epoch', 2)) is None


def _runner(iter_, epoch=0, batches=4, max_epochs=2):
    return SimpleNamespace(
        iter=iter_,
        epoch=epoch,
        max_iters=batches * max_epochs,
        train_loop=SimpleNamespace(max_epochs=max_epochs),
        train_dataloader=[None] * batches,
        test_dataloader=[None] * 3,
    )


def test_hook_writes_what_the_reader_reads(tmp_path):
    path = str(tmp_path / 'progress.jsonl')
    (tmp_path / 'progress.jsonl').write_text('{"phase": "train", "epoch": 1}\n{"phase": "tr')
    reader = ProgressReader(path)  # made when the run starts: the earlier try is not read
    hook = ProgressHook(path, min_interval_s=1e9)  # only the first and last of a loop
    hook.before_run(_runner(0))
    for i in range(8):
        runner = _runner(i, epoch=i // 4)
        hook.after_train_iter(runner, i % 4, outputs={'loss': torch.tensor(2.0 - i / 8)})
    for i in range(3):
        hook.after_test_iter(_runner(8), i)
    hook.after_run(_runner(8))
    records = reader.read()
    assert [(r['phase'], r.get('epoch'), r['batch']) for r in records] == [
        ('train', 1, 1),
        ('train', 1, 4),
        ('train', 2, 1),
        ('train', 2, 4),
        ('test', None, 1),
        ('test', None, 3),
    ]
    last_train = records[3]
    assert last_train['iter'] == last_train['max_iters'] == 8
    assert last_train['max_epochs'] == 2 and last_train['batches'] == 4
    assert last_train['loss'] == pytest.approx(2.0 - 7 / 8)
    assert last_train['eta_s'] == 0 and records[0]['eta_s'] >= 0
    assert all(isinstance(r['time'], float) for r in records)
    assert reader.read() == []  # nothing new
    # the torn line of the earlier try was ended, so every new record is a line of its own
    lines = (tmp_path / 'progress.jsonl').read_text().splitlines()
    assert lines[1] == '{"phase": "tr' and all(json.loads(line) for line in lines[2:])


def test_reader_waits_for_whole_lines(tmp_path):
    path = tmp_path / 'progress.jsonl'
    reader = ProgressReader(str(path))
    assert reader.read() == []  # no file yet
    with open(path, 'a') as f:
        f.write('{"phase": "test", "batch": 1, "batches": 2}\n[1, 2]\nnot json\n{"phase": ')
    assert reader.read() == [{'phase': 'test', 'batch': 1, 'batches': 2}]
    with open(path, 'a') as f:
        f.write('"test", "batch": 2, "batches": 2}\n')
    assert reader.read() == [{'phase': 'test', 'batch': 2, 'batches': 2}]


@pytest.mark.parametrize('interval, error', [(-1, ValueError), ('1', TypeError)])
def test_hook_bad_interval(tmp_path, interval, error):
    with pytest.raises(error, match='min_interval_s'):
        ProgressHook(str(tmp_path / 'p.jsonl'), min_interval_s=interval)


def test_console_lines():
    stream = io.StringIO()
    progress = Progress(4, 2, stream)
    run = SimpleNamespace(label='ratio-2/seed0')
    progress.say(3, run, 'start')
    progress.say(3, run, 'skipped', timing=False)
    first, second = stream.getvalue().splitlines()
    assert first.startswith('[3/4] ratio-2/seed0: start | elapsed 0s | ETA ?')
    assert second == '[3/4] ratio-2/seed0: skipped'
    progress.partial = 1.0
    assert progress.eta().startswith('ETA ')
    assert [hms(s) for s in (0, 59.6, 61, 3600)] == ['0s', '1m00s', '1m01s', '1h00m00s']
