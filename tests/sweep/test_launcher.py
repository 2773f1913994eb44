"""se_plugin.sweep.launcher: worker processes, their progress, a real tiny sweep, resume."""

import csv
import io
import json
import os
import os.path as osp

import pytest
from helpers import TINY_OPTIONS, plan_tiny, run_plan

from se_plugin.runtime.errors import WorkDirLockedError
from se_plugin.runtime.workdir_lock import lock_work_dir
from se_plugin.sweep import Plan, Point, Run, RunFailed, SweepError, execute, launcher
from se_plugin.sweep.launcher import launch
from se_plugin.sweep.progress import Progress

# ------------------------------------------------------------- real tiny sweep


def _json(path):
    with open(path) as f:
        return json.load(f)


def _csv(path):
    with open(path, newline='') as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_tiny_sweep(tiny_sweep):
    plan, outcome, text = tiny_sweep
    assert outcome['failed'] == []
    assert '[1/2] ratio-2/seed0: start' in text
    assert '[2/2] ratio-8/seed0: epoch 2/2 [2/2]' in text and 'ETA' in text
    assert '[2/2] ratio-8/seed0: accuracy/top1 ' in text
    rows = _csv(osp.join(plan.work_dir, 'results.csv'))
    assert [(r['point'], r['ratio'], r['seeds']) for r in rows] == [
        ('ratio-2', '2', '1'),
        ('ratio-8', '8', '1'),
    ]
    assert int(rows[0]['params']) > int(rows[1]['params']) > 0
    assert all(0 <= float(r['accuracy/top1 mean']) <= 100 for r in rows)
    with open(osp.join(plan.work_dir, 'results.md')) as f:
        table = f.read()
    assert '| ratio-2 | 2 |' in table and 'python tools/ablate.py' in table
    with open(osp.join(plan.work_dir, 'results.png'), 'rb') as f:
        assert f.read(4) == b'\x89PNG'
    for run in plan.runs:
        result = _json(osp.join(run.work_dir, 'result.json'))
        assert result['spec'] == run.spec and result['resumed'] is False
        assert result['checkpoint'].endswith('epoch_2.pth') and osp.isfile(result['checkpoint'])
        assert set(result['metrics']) == {'accuracy/top1'}
        # the test ran on the 50 spread digits
        assert os.listdir(osp.join(run.work_dir, 'test'))
        # the worker's progress channel: every epoch's first and last batch, then the test
        with open(osp.join(run.work_dir, 'progress.jsonl')) as f:
            records = [json.loads(line) for line in f]
        train = [(r['epoch'], r['batch'], r['batches']) for r in records if r['phase'] == 'train']
        assert {(1, 1, 2), (1, 2, 2), (2, 1, 2), (2, 2, 2)} <= set(train)
        assert records[-1]['phase'] == 'test' and records[-1]['batch'] == 2
        assert all(r['loss'] > 0 for r in records if r['phase'] == 'train')


@pytest.mark.slow
def test_rerun_skips_finished_and_resumes_interrupted(tiny_sweep):
    plan, _, _ = tiny_sweep
    done, interrupted = plan.runs
    # ratio-8 "killed" during epoch 2: no result, no epoch_2 checkpoint
    os.remove(osp.join(interrupted.work_dir, 'result.json'))
    os.remove(osp.join(interrupted.work_dir, 'epoch_2.pth'))
    epoch1 = osp.join(interrupted.work_dir, 'epoch_1.pth')
    assert osp.isfile(epoch1)
    with open(osp.join(interrupted.work_dir, 'last_checkpoint'), 'w') as f:
        f.write(epoch1)
    kept = osp.join(done.work_dir, 'result.json')
    stamp = os.stat(kept).st_mtime_ns

    again = plan_tiny(plan.work_dir)
    outcome, text = run_plan(again)
    assert '[1/2] ratio-2/seed0: done before' in text and 'skipped' in text
    assert '[2/2] ratio-8/seed0: resuming from its last checkpoint' in text
    assert 'epoch 1/2' not in text  # epoch 1 was not trained again
    assert os.stat(kept).st_mtime_ns == stamp
    result = _json(osp.join(interrupted.work_dir, 'result.json'))
    assert result['resumed'] is True
    assert osp.isfile(osp.join(interrupted.work_dir, 'epoch_2.pth'))
    with open(osp.join(interrupted.work_dir, 'ablate.log')) as f:
        log = f.read()
    assert 'resumed epoch: 1' in log
    assert len(_csv(osp.join(plan.work_dir, 'results.csv'))) == 2

    # the same dirs with other settings are refused, not mixed in
    options = dict(TINY_OPTIONS, **{'optim_wrapper.optimizer.lr': 0.05})
    with pytest.raises(SweepError, match='holds a run with other settings'):
        plan_tiny(plan.work_dir, cfg_options=options)


# ---------------------------------------------------------- stand-in workers

RECORD = '{"phase": "train", "epoch": 1, "batch": 1, "batches": 2, "loss": 2.5}'


def _fake_python(tmp_path, body):
    """A stand-in for the worker's python: ``$4`` is the run dir (``-m MODULE --point DIR``)."""
    fake = tmp_path / 'fake_python'
    fake.write_text('#!/bin/sh\n' + body)
    fake.chmod(0o755)
    return str(fake)


def _launch(tmp_path, fake, stream):
    run = Run(Point('p', {}), 0, str(tmp_path / 'p' / 'seed0'), {'config': 'x'})
    progress = Progress(1, 1, stream)
    try:
        launch(run, ('epoch', 1), progress, 1, python=fake)
    except RunFailed as err:
        return progress, err
    return progress, None


def test_failed_run_reports_log(tmp_path):
    # a stand-in for the worker process that reports progress, then fails
    fake = _fake_python(
        tmp_path, f"echo '{RECORD}' >> \"$4/progress.jsonl\"\necho 'error: boom'\nexit 3\n"
    )
    with open(os.devnull, 'w') as devnull:
        progress, err = _launch(tmp_path, fake, devnull)
    assert err is not None
    assert str(err).startswith('p/seed0 failed (exit code 3): error: boom')
    assert progress.partial > 0  # the progress record was read
    log = (tmp_path / 'p' / 'seed0' / 'ablate.log').read_text()
    assert 'error: boom' in log
    assert json.loads((tmp_path / 'p' / 'seed0' / 'point.json').read_text()) == {'config': 'x'}


def test_progress_comes_from_the_channel_not_the_log(tmp_path):
    run_dir = tmp_path / 'p' / 'seed0'
    run_dir.mkdir(parents=True)
    # a record of an earlier, interrupted try of the same run is not shown again
    (run_dir / 'progress.jsonl').write_text(RECORD.replace('"loss": 2.5', '"loss": 9.75') + '\n')
    fake = _fake_python(
        tmp_path,
        "echo 'Epoch(train) [1][2/2]  lr: 0.1  loss: 7.125'\n"  # mmengine's log format
        'echo \'{"phase": "test", "batch": 1, "batches": 2}\' >> "$4/progress.jsonl"\n'
        'echo \'{"metrics": {}}\' > "$4/result.json"\n',
    )
    stream = io.StringIO()
    progress, err = _launch(tmp_path, fake, stream)
    assert err is None
    text = stream.getvalue()
    assert '[1/1] p/seed0: test [1/2]' in text
    assert '9.75' not in text and '7.125' not in text
    assert 'loss: 7.125' in (run_dir / 'ablate.log').read_text()


# ------------------------------------------------------------------- locks


def _one_run_plan(tmp_path):
    run = Run(Point('p', {}), 0, str(tmp_path / 'w' / 'p' / 'seed0'), {'config': 'x'})
    return Plan(
        'cfg.py', str(tmp_path / 'w'), [], [run.point], (0,), {}, [run], {'p': (1, None)}, [],
        {'p': ('epoch', 1)},
    )  # fmt: skip


def test_worker_is_told_its_parent_and_holds_nothing_the_sweep_holds(tmp_path):
    # the stand-in records its arguments and whether the run dir's lock is free
    fake = _fake_python(
        tmp_path,
        'echo "$@" > "$4/argv"\n'
        'flock -n "$4/.se_plugin.lock" true && echo free > "$4/lock"\n'
        'echo \'{"metrics": {"accuracy/top1": 50.0}, "train_s": 1, "test_s": 1}\' '
        '> "$4/result.json"\n',
    )
    plan = _one_run_plan(tmp_path)
    with open(os.devnull, 'w') as devnull:
        execute(plan, stream=devnull, python=fake)
    run_dir = tmp_path / 'w' / 'p' / 'seed0'
    assert (run_dir / 'argv').read_text().split()[-2:] == ['--parent-pid', str(os.getpid())]
    assert (run_dir / 'lock').read_text() == 'free\n'


@pytest.mark.parametrize('locked', ['sweep dir', 'run dir'])
def test_a_dir_in_use_stops_the_sweep_naming_the_holder(locked, tmp_path, monkeypatch):
    monkeypatch.setattr(launcher, 'LOCK_WAIT_S', 0.1)
    fake = _fake_python(tmp_path, 'touch "$4/started"\n')
    plan = _one_run_plan(tmp_path)
    held = plan.work_dir if locked == 'sweep dir' else plan.runs[0].work_dir
    refused = pytest.raises(WorkDirLockedError, match=f'{held} is in use by another run \\(pid ')
    with lock_work_dir(held, 'tools/train.py'), open(os.devnull, 'w') as devnull, refused:
        execute(plan, stream=devnull, python=fake, keep_going=True)
    assert not (tmp_path / 'w' / 'p' / 'seed0' / 'started').exists()
