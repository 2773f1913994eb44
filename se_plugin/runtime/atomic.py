"""Crash-safe file writes for checkpoints.

mmengine 0.10.7 writes a checkpoint with ``open(path, 'wb').write(...)`` and
then the ``last_checkpoint`` pointer with ``open(pointer, 'w').write(...)``: a
process killed during either write leaves a truncated file under the final
name, and with ``max_keep_ckpts`` the previous checkpoint has already been
deleted. Here every write goes to a temporary file in the same directory, is
flushed and ``fsync``-ed, and is then renamed over the final name with
:func:`os.replace` (atomic on POSIX and Windows); the directory is ``fsync``-ed
so that the rename itself survives a power loss. A reader therefore sees the
old complete file or the new complete file, never a part of one.

:class:`AtomicLocalBackend` is mmengine's ``LocalBackend`` with that ``put``;
it is registered as the file backend ``'se_plugin_atomic_local'``, which is
how :class:`~se_plugin.runtime.checkpoint_hook.AtomicCheckpointHook` routes
``Runner.save_checkpoint`` through it (``backend_args``, mmengine's own
extension point) without patching mmengine.
"""

from __future__ import annotations

import contextlib
import glob
import os
import os.path as osp
import secrets
from pathlib import Path
from typing import Union

from mmengine.fileio import LocalBackend, register_backend

__all__ = [
    'ATOMIC_BACKEND',
    'AtomicLocalBackend',
    'TMP_SUFFIX',
    'atomic_write_bytes',
    'atomic_write_text',
    'remove_stale_temp_files',
]

ATOMIC_BACKEND = 'se_plugin_atomic_local'
TMP_SUFFIX = '.tmp'


def _temp_name(path: str) -> str:
    directory, name = osp.split(path)
    # hidden and with a suffix no checkpoint glob (*.pth) matches
    return osp.join(directory, f'.{name}.{os.getpid()}-{secrets.token_hex(4)}{TMP_SUFFIX}')


def _fsync_dir(directory: str) -> None:
    """Persist a rename in ``directory`` (a no-op where directories can't be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(data: bytes, path: Union[str, Path]) -> None:
    """Write ``data`` to ``path`` so that ``path`` is never seen half-written.

    The bytes go to a temporary file next to ``path`` (same file system, so
    the rename is atomic), which is fsync-ed and renamed over ``path``. If
    anything fails (or the process is killed), ``path`` keeps its old content
    and only a hidden ``.<name>.<pid>-<random>.tmp`` file may be left behind
    (see :func:`remove_stale_temp_files`).
    """
    path = osp.abspath(os.fspath(path))
    directory = osp.dirname(path)
    os.makedirs(directory, exist_ok=True)
    tmp = _temp_name(path)
    try:
        # 'xb': a new file with the usual permissions (umask), never an existing one
        with open(tmp, 'xb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(directory)


def atomic_write_text(text: str, path: Union[str, Path], encoding: str = 'utf-8') -> None:
    """:func:`atomic_write_bytes` for text."""
    atomic_write_bytes(text.encode(encoding), path)


def remove_stale_temp_files(directory: Union[str, Path]) -> list:
    """Delete temporary files left in ``directory`` by killed atomic writes.

    Only names this module creates (``.<name>.<pid>-<hex>.tmp``) are removed;
    call it when no other process writes checkpoints to ``directory``.
    Returns the removed paths.
    """
    removed = []
    for tmp in glob.glob(osp.join(glob.escape(os.fspath(directory)), f'.*{TMP_SUFFIX}')):
        stem = osp.basename(tmp)[: -len(TMP_SUFFIX)]
        tag = stem.rsplit('.', 1)[-1]
        pid, _, token = tag.partition('-')
        if pid.isdigit() and len(token) == 8:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
                removed.append(tmp)
    return removed


@register_backend(ATOMIC_BACKEND, force=True)
class AtomicLocalBackend(LocalBackend):
    """mmengine's local file backend whose writes are atomic (temp + fsync + rename)."""

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        atomic_write_bytes(obj, filepath)

    def put_text(self, obj: str, filepath: Union[str, Path], encoding: str = 'utf-8') -> None:
        atomic_write_text(obj, filepath, encoding=encoding)
