"""Crash-safe file writes: the one helper for every finished file se_plugin writes.

Checkpoints, converter outputs, sweep results and benchmark JSON all go
through :func:`atomic_open` (or :func:`atomic_write_bytes` / ``_text``).

mmengine 0.10.7 writes a checkpoint with ``open(path, 'wb').write(...)`` and
then the ``last_checkpoint`` pointer with ``open(pointer, 'w').write(...)``: a
process killed during either write leaves a truncated file under the final
name, and with ``max_keep_ckpts`` the previous checkpoint has already been
deleted. Here every write goes to a temporary file in the same directory, is
flushed and ``fsync``-ed, and is then renamed over the final name with
:func:`os.replace` (atomic on POSIX and Windows); the directory is ``fsync``-ed
so that the rename itself survives a power loss. A reader therefore sees the
old complete file or the new complete file, never a part of one.

Plain Python (no torch, no mmengine): mmengine's checkpoints take this path
through :class:`~se_plugin.runtime.checkpoint_hook.AtomicLocalBackend`.
"""

from __future__ import annotations

import contextlib
import glob
import os
import os.path as osp
import secrets
from pathlib import Path
from typing import Optional, Union

__all__ = [
    'TMP_SUFFIX',
    'atomic_open',
    'atomic_write_bytes',
    'atomic_write_text',
    'remove_stale_temp_files',
]

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


@contextlib.contextmanager
def atomic_open(path: Union[str, Path], mode: str = 'wb', encoding: Optional[str] = None):
    """Open a temporary file that replaces ``path`` when the ``with`` body ends.

    The file is created next to ``path`` (same file system, so the rename is
    atomic) under a unique hidden name ``.<name>.<pid>-<random>.tmp``, never
    an existing file; on leaving the body it is flushed, fsync-ed and renamed
    over ``path``. If the body raises (or the rename fails), the temporary
    file is removed and ``path`` keeps its old content.

    Args:
        path (str | Path): The finished file's path.
        mode (str): ``'wb'`` or ``'w'``. Default: 'wb'.
        encoding (str, optional): Text encoding for ``'w'``. Default: None
            (utf-8).

    Yields:
        file: The open temporary file.

    Example:
        >>> import os, tempfile, torch
        >>> path = os.path.join(tempfile.mkdtemp(), 'w.pth')
        >>> with atomic_open(path) as f:
        ...     torch.save({'w': torch.zeros(1)}, f)
        >>> os.listdir(os.path.dirname(path))
        ['w.pth']
    """
    if mode not in ('wb', 'w'):
        raise ValueError(f"mode must be 'wb' or 'w', got {mode!r}")
    path = osp.abspath(os.fspath(osp.expanduser(path)))
    if osp.isdir(path):
        raise IsADirectoryError(f'cannot write {path}: it is a directory')
    directory = osp.dirname(path)
    os.makedirs(directory, exist_ok=True)
    tmp = _temp_name(path)
    try:
        # 'x': a new file with the usual permissions (umask), never an existing one
        with open(
            tmp, mode.replace('w', 'x'), encoding=encoding or ('utf-8' if mode == 'w' else None)
        ) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(directory)


def atomic_write_bytes(data: bytes, path: Union[str, Path]) -> None:
    """Write ``data`` to ``path`` so that ``path`` is never seen half-written.

    :func:`atomic_open` with ``data``: if anything fails (or the process is
    killed), ``path`` keeps its old content and at most a hidden
    ``.<name>.<pid>-<random>.tmp`` file of a killed process is left behind
    (see :func:`remove_stale_temp_files`).
    """
    with atomic_open(path, 'wb') as f:
        f.write(data)


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
