"""One run per work dir: a second one is refused naming the first; a killed one's
lock is taken over."""

import os
import signal
import subprocess
import sys

import pytest

from se_plugin.runtime.errors import WorkDirLockedError
from se_plugin.runtime.workdir_lock import LOCK_NAME, lock_work_dir


def _take(path):
    with lock_work_dir(str(path), 'second'):
        pass


def test_second_lock_is_refused_naming_the_holder(tmp_path):
    held = f'in use by another run \\(pid {os.getpid()}'
    with lock_work_dir(str(tmp_path), 'first'), pytest.raises(WorkDirLockedError, match=held):
        _take(tmp_path)
    _take(tmp_path)  # released


def test_lock_of_a_killed_process_is_taken_over(tmp_path, capsys):
    # the lock's protocol (flock + "pid N" in the file) in a process that is then killed
    code = (
        'import fcntl, os, sys, time\n'
        'fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)\n'
        'fcntl.flock(fd, fcntl.LOCK_EX)\n'
        'os.write(fd, f"pid {os.getpid()} on host, victim".encode())\n'
        'print("locked", flush=True); time.sleep(60)\n'
    )
    lock = str(tmp_path / LOCK_NAME)
    proc = subprocess.Popen([sys.executable, '-c', code, lock], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == 'locked'
        with pytest.raises(WorkDirLockedError, match=f'pid {proc.pid}'):
            _take(tmp_path)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert f'pid {proc.pid}' in (tmp_path / LOCK_NAME).read_text()  # left behind
    with lock_work_dir(str(tmp_path)):
        assert f'pid {os.getpid()}' in (tmp_path / LOCK_NAME).read_text()
    assert f'stale lock of {tmp_path} (pid {proc.pid}' in capsys.readouterr().err


def test_other_ranks_do_not_lock(tmp_path, monkeypatch):
    with lock_work_dir(str(tmp_path)):
        monkeypatch.setenv('RANK', '1')
        with lock_work_dir(str(tmp_path)) as path:
            assert path == ''


def test_wait_takes_the_lock_once_the_holder_lets_go(tmp_path):
    code = (
        'import fcntl, os, sys, time\n'
        'fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)\n'
        'fcntl.flock(fd, fcntl.LOCK_EX)\n'
        'print("locked", flush=True); time.sleep(1)\n'
        'print("releasing", flush=True); os.close(fd); time.sleep(60)\n'
    )
    proc = subprocess.Popen(
        [sys.executable, '-c', code, str(tmp_path / LOCK_NAME)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == 'locked'
        with pytest.raises(WorkDirLockedError):
            _take(tmp_path)  # no wait: refused at once
        with lock_work_dir(str(tmp_path), 'waiting', wait_s=60):
            assert proc.stdout.readline().strip() == 'releasing'  # taken after the holder let go
    finally:
        proc.kill()
        proc.wait()
