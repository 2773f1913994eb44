"""Checks that an output path can be written, before any work is done."""

from __future__ import annotations

import os.path as osp
from typing import Optional

from se_plugin.runtime.errors import ConfigError


def _blocking_file(path: str) -> Optional[str]:
    """The nearest existing ancestor of ``path`` when it is a file, else None."""
    parent = osp.dirname(osp.abspath(osp.expanduser(path)))
    while parent and not osp.exists(parent):
        parent = osp.dirname(parent)
    return parent if parent and not osp.isdir(parent) else None


def check_output_dir(path: str, what: str = 'output dir') -> str:
    """Fail before any work when ``path`` cannot be a directory (it, or a part
    of it, is a file).

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
    return path


def check_output_file(path: str, what: str = 'output') -> str:
    """Fail before any work when ``path`` cannot become a file: it is a
    directory, or a part of its directory is a file.

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
    return path
