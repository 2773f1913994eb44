"""Checks that an output path can be written, before any work is done.

Every tool that writes checks its outputs here first (``--work-dir``,
``--out``, ``--out-dir``, ...): a path under a file, a directory where a file
is expected, and a folder that cannot be written to (a read-only file system,
no permission) are one line before any training or export starts. A write
refused later anyway (the disk fills up, a mount turns read-only) is one line
too (:func:`~se_plugin.runtime.errors.is_user_error`).
"""

from __future__ import annotations

import os
import os.path as osp
from typing import Optional

from se_plugin.runtime.errors import ConfigError


def _nearest_existing(path: str) -> str:
    """``path`` or its nearest existing ancestor."""
    path = osp.abspath(osp.expanduser(path))
    while path and not osp.exists(path):
        parent = osp.dirname(path)
        if parent == path:
            break
        path = parent
    return path


def _blocking_file(path: str) -> Optional[str]:
    """The nearest existing ancestor of ``path`` when it is a file, else None."""
    parent = _nearest_existing(osp.dirname(osp.abspath(osp.expanduser(path))))
    return parent if parent and not osp.isdir(parent) else None


def _unwritable(directory: str) -> Optional[str]:
    """Why files cannot be created in the existing ``directory``, or None."""
    if os.access(directory, os.W_OK | os.X_OK):
        return None
    try:
        read_only = bool(os.statvfs(directory).f_flag & os.ST_RDONLY)
    except OSError:
        read_only = False
    return 'read-only file system' if read_only else 'permission denied'


def _check_writable(path: str, what: str, directory: str) -> None:
    existing = _nearest_existing(directory)
    reason = _unwritable(existing)
    if reason:
        raise ConfigError(f'{what} {path}: cannot write in {existing} ({reason})')


def check_output_dir(path: str, what: str = 'output dir') -> str:
    """Fail before any work when ``path`` cannot be a directory to write in (it,
    or a part of it, is a file; or it cannot be written to).

    Args:
        path (str): The directory to write into.
        what (str): Its role, for the message (e.g. ``--out-dir``). Default: 'output dir'.

    Returns:
        str: ``path``.
    """
    if osp.exists(path) and not osp.isdir(path):
        raise ConfigError(f'{what} {path} exists and is not a directory')
    blocking = _blocking_file(path)
    if blocking:
        raise ConfigError(f'{what} {path}: {blocking} is a file, not a directory')
    _check_writable(path, what, path)
    return path


def check_output_file(path: str, what: str = 'output') -> str:
    """Fail before any work when ``path`` cannot become a file: it is a
    directory, a part of its directory is a file, or its directory cannot be
    written to (the file is written next to it, then renamed).

    Args:
        path (str): The file to write.
        what (str): Its role, for the message (e.g. ``--out``). Default: 'output'.

    Returns:
        str: ``path``.
    """
    if osp.isdir(path):
        raise ConfigError(f'{what} {path} is a directory; give a file name')
    blocking = _blocking_file(path)
    if blocking:
        raise ConfigError(f'{what} {path}: {blocking} is a file, not a directory')
    _check_writable(path, what, osp.dirname(osp.abspath(osp.expanduser(path))))
    return path
