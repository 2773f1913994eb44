"""se_plugin.sweep.worker: a run refuses a config edited since the sweep was planned,
holds its run dir's lock, and dies with the sweep that started it."""

import os
import os.path as osp
import subprocess
import sys
import time

import pytest
from helpers import QUICKSTART, ROOT

from se_plugin.runtime.atomic import atomic_write_text
from se_plugin.runtime.errors import WorkDirLockedError
from se_plugin.runtime.workdir_lock import lock_work_dir
from se_plugin.sweep import SweepError, plan_sweep, run_point, worker
from se_plugin.sweep.records import json_text


def test_edited_config_is_noticed(tmp_path):
    config = tmp_path / 'cfg.py'
    config.write_text(f'_base_ = [{QUICKSTART!r}]\nrandomness = dict(seed=0)\n')
    sweep = ['model.backbone.attn_cfg.ratio=4']
    run = plan_sweep(str(config), sweep, work_dir=str(tmp_path / 'w')).runs[0]
    os.makedirs(run.work_dir)
    atomic_write_text(json_text(run.spec), osp.join(run.work_dir, 'point.json'))
    config.write_text(f'_base_ = [{QUICKSTART!r}]\nrandomness = dict(seed=1)\n')
    # the run refuses before training, and a new plan refuses the dir
    with pytest.raises(ValueError, match='changed since this sweep was planned'):
        run_point(run.work_dir)
    with pytest.raises(SweepError, match=r'other settings \(different config contents\)'):
        plan_sweep(str(config), sweep, work_dir=str(tmp_path / 'w'))


def test_missing_point_file(tmp_path):
    with pytest.raises(FileNotFoundError, match='no readable point.json'):
        run_point(str(tmp_path))


def test_a_locked_run_dir_is_refused_naming_the_holder(tmp_path, monkeypatch):
    monkeypatch.setattr(worker, 'LOCK_WAIT_S', 0.2)
    with lock_work_dir(str(tmp_path), 'tools/train.py'):
        start = time.monotonic()
        with pytest.raises(WorkDirLockedError, match=f'pid {os.getpid()} .*tools/train.py'):
            run_point(str(tmp_path))  # refused before point.json is read
        assert time.monotonic() - start >= 0.2  # it waited for the holder first


# the sweep's stand-in: starts a child that arms die_with_parent, prints its pid, sleeps
PARENT = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, '-c', sys.argv[1], str(__import__('os').getpid())])
time.sleep(600)
"""
CHILD = """
import os, sys, time
from se_plugin.sweep.worker import die_with_parent
die_with_parent(int(sys.argv[1]))
print(os.getpid(), flush=True)
time.sleep(600)
"""


def _alive(pid):
    try:
        with open(f'/proc/{pid}/stat') as f:
            return f.read().split(') ')[1][0] != 'Z'  # a zombie is dead, not yet reaped
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not osp.isdir('/proc/self'), reason='reads /proc')
def test_worker_dies_with_its_parent_on_kill_9(tmp_path):
    env = dict(os.environ, PYTHONPATH=ROOT)
    parent = subprocess.Popen(
        [sys.executable, '-c', PARENT, CHILD], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        child = int(parent.stdout.readline())
        assert _alive(child)
        parent.kill()  # SIGKILL: the parent runs no cleanup
        parent.wait()
        deadline = time.monotonic() + 10
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(child), 'the worker outlived the sweep that started it'
    finally:
        parent.kill()


def test_worker_of_an_already_dead_parent_ends_at_once(tmp_path):
    # the parent died before the signal was armed: getppid() is no longer its pid
    proc = subprocess.run(
        [sys.executable, '-c', CHILD, '1'],
        env=dict(os.environ, PYTHONPATH=ROOT),
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode == -9 and proc.stdout == b''
