"""One run per work dir: an advisory lock that a killed run cannot leave behind.

Two runs in one work dir interleave their logs and overwrite each other's
checkpoints. :func:`lock_work_dir` takes an exclusive ``flock`` on
``<work_dir>/.se_plugin.lock`` for the whole run and writes the holder's pid
and host into it; a second run fails at once with
:class:`~se_plugin.runtime.errors.WorkDirLockedError` naming that pid. The
kernel drops a ``flock`` when its process dies (also on ``kill -9``), so the
lock of a killed run is stale by construction: the next run takes it over and
says whose it was. In a distributed run only rank 0 locks (all ranks share the
work dir).

Every tool that writes a run takes this lock: ``tools/train.py`` and
``tools/test.py`` on their work dir, ``tools/ablate.py`` on the sweep's work
dir (two sweeps never train into the same folders) and each sweep worker on
its run's dir (``train.py`` into a running point's folder is refused naming
the worker's pid). A process that is about to take over the lock of one that
is still dying (a sweep worker killed with its parent) passes ``wait_s``.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import os.path as osp
import socket
import sys
import time
from collections.abc import Iterator

from .errors import WorkDirLockedError

__all__ = ['LOCK_NAME', 'lock_work_dir']

LOCK_NAME = '.se_plugin.lock'


def _holder(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    return os.read(fd, 200).decode(errors='replace').strip()


def _acquire(fd: int, wait_s: float) -> bool:
    """Take the ``flock`` on ``fd``, trying for up to ``wait_s`` seconds."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError as err:
            if err.errno not in (errno.EWOULDBLOCK, errno.EACCES):
                raise
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)


@contextlib.contextmanager
def lock_work_dir(work_dir: str, tool: str = 'run', wait_s: float = 0.0) -> Iterator[str]:
    """Hold the work dir's lock while the ``with`` body runs.

    Args:
        work_dir (str): The run's work dir (created if missing).
        tool (str): What holds the lock, for the message. Default: 'run'.
        wait_s (float): How long to wait for a held lock before giving up.
            Default: 0.0 (refuse at once).

    Yields:
        str: The lock file's path.

    Raises:
        WorkDirLockedError: Another live process holds the lock.
    """
    if int(os.environ.get('RANK', '0') or 0) != 0:
        yield ''
        return
    os.makedirs(work_dir, exist_ok=True)
    path = osp.join(work_dir, LOCK_NAME)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        if not _acquire(fd, wait_s):
            raise WorkDirLockedError(
                f'work dir {work_dir} is in use by another run ({_holder(fd) or "unknown pid"}); '
                'wait for it to finish or pass another --work-dir'
            )
        stale = _holder(fd)
        if stale:
            print(f'note: took over the stale lock of {work_dir} ({stale})', file=sys.stderr)
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, f'pid {os.getpid()} on {socket.gethostname()}, {tool}'.encode())
        try:
            yield path
        finally:
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)
