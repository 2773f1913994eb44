"""Safe loading of mmengine checkpoints on torch >= 2.6.

torch >= 2.6 unpickles with ``weights_only=True``, which refuses the few
non-tensor objects an mmengine training checkpoint holds (the message hub's
``HistoryBuffer`` and numpy values), so ``--resume``, ``load_from`` and
``tools/test.py`` fail. The fix is an allow-list of exactly those globals
(:mod:`~se_plugin.runtime.allow_list`); ``weights_only=False`` (which runs
arbitrary code from the file) is never used.

Importing :mod:`se_plugin` installs the allow-list and makes mmengine's local
checkpoint loader report unsafe or corrupt files with a clear
:class:`CheckpointError` naming the file.
"""

from __future__ import annotations

import logging
import os
import pickle
import re
from typing import Any, Optional

import torch
from mmengine.logging import print_log

from .allow_list import install_safe_globals
from .errors import UserError

__all__ = [
    'CheckpointError',
    'check_resumable',
    'find_resumable_checkpoint',
    'load_checkpoint_file',
    'register_checkpoint_loader',
]


class CheckpointError(UserError, ValueError):
    """A checkpoint file that is unsafe, corrupt or truncated."""


def load_checkpoint_file(filename: str, map_location: Any = None) -> Any:
    """``torch.load`` with ``weights_only=True`` and the allow-list.

    Raises:
        FileNotFoundError: ``filename`` does not exist.
        CheckpointError: the file holds a global that is not allowed (nothing
            from it is executed), or it is not a readable torch file.
    """
    filename = os.path.expanduser(filename)
    if not os.path.isfile(filename):
        raise FileNotFoundError(f'checkpoint not found: {filename}')
    install_safe_globals()
    try:
        return torch.load(filename, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        reason = _unpickling_reason(str(err))
        if _REFUSAL.search(reason):
            raise CheckpointError(
                f'refused to load {filename}: it holds an object outside the allow-list of '
                f'mmengine checkpoint globals ({reason}); nothing from it was executed'
            ) from None
        raise CheckpointError(_corrupt_message(filename, reason)) from None
    except Exception as err:  # torch reports damaged files with many error types
        raise CheckpointError(_corrupt_message(filename, f'{type(err).__name__}: {err}')) from None


_REFUSAL = re.compile(r'global|refused getattr|reduce', re.IGNORECASE)


def _unpickling_reason(message: str) -> str:
    """The informative part of torch's long weights_only error message."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    for i, line in enumerate(lines):
        if 'WeightsUnpickler error:' in line:
            rest = line.split('WeightsUnpickler error:', 1)[1].strip()
            return rest or (lines[i + 1] if i + 1 < len(lines) else line)
        if line.startswith('Trying to load unsupported GLOBAL'):
            return line
    return lines[0] if lines else 'unpickling error'


def _corrupt_message(filename: str, reason: str) -> str:
    first = reason.strip().splitlines()[0] if reason.strip() else 'unreadable'
    return f'cannot read checkpoint {filename}: the file is corrupt or truncated ({first})'


def _load_from_local(filename: str, map_location: Any) -> Any:
    return load_checkpoint_file(filename, map_location)


def register_checkpoint_loader() -> None:
    """Make mmengine's loader for local paths use :func:`load_checkpoint_file`."""
    # imported here: importing this module must not import mmengine's Runner
    # (see se_plugin.runtime.install, which calls this when that import happens)
    from mmengine.runner.checkpoint import CheckpointLoader

    CheckpointLoader.register_scheme(prefixes='', force=True)(_load_from_local)


def check_resumable(filename: str) -> dict:
    """Load ``filename`` and check it holds what ``Runner.resume`` needs.

    Raises:
        FileNotFoundError, CheckpointError: as :func:`load_checkpoint_file`, and
            CheckpointError for a checkpoint without ``meta``/``state_dict``.
    """
    checkpoint = load_checkpoint_file(filename, map_location='cpu')
    missing = [
        key
        for key in ('meta', 'state_dict')
        if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get(key), dict)
    ]
    if missing:
        raise CheckpointError(
            f'cannot resume from {filename}: it is not an mmengine training checkpoint '
            f'(no {" or ".join(missing)})'
        )
    return checkpoint


def _candidates(directories: list) -> list:
    """``*.pth`` files of ``directories``, newest first (mtime, then name)."""
    found = {}
    for directory in directories:
        if directory and os.path.isdir(directory):
            for name in os.listdir(directory):
                path = os.path.join(directory, name)
                # best_*.pth hold no optimizer state: not a place to resume from
                if name.endswith('.pth') and not name.startswith('best_') and os.path.isfile(path):
                    found[os.path.realpath(path)] = path
    return sorted(
        found.values(), key=lambda p: (os.path.getmtime(p), os.path.basename(p)), reverse=True
    )


def find_resumable_checkpoint(work_dir: str, warn: Any = None) -> Optional[str]:
    """The checkpoint ``--resume auto`` continues from, or None to start afresh.

    The ``last_checkpoint`` pointer of ``work_dir`` is used when it names a
    loadable training checkpoint. Otherwise (pointer missing, empty, or naming
    a missing, corrupt or unsafe file) the newest loadable checkpoint with
    training state in the work dir (and in the pointer's directory) is used,
    and ``warn`` (default: mmengine's logger) is told why. Best checkpoints
    (``best_*.pth``, no optimizer state) are never fallen back to.
    """
    if warn is None:

        def warn(msg: str) -> None:
            print_log(msg, logger='current', level=logging.WARNING)

    pointer = os.path.join(work_dir, 'last_checkpoint')
    directories = [work_dir]
    problem = None
    if os.path.isfile(pointer):
        with open(pointer, encoding='utf-8', errors='replace') as f:
            target = f.read().strip()
        if not target:
            problem = f'{pointer} is empty'
        else:
            directories.append(os.path.dirname(target))
            try:
                check_resumable(target)
                return target
            except (FileNotFoundError, CheckpointError) as err:
                problem = f'{pointer} names an unusable checkpoint ({err})'
    skipped = []
    for path in _candidates(directories):
        try:
            checkpoint = check_resumable(path)
        except (FileNotFoundError, CheckpointError) as err:
            skipped.append(f'{os.path.basename(path)}: {err}')
            continue
        if 'message_hub' not in checkpoint:
            continue  # a published checkpoint: weights only
        warn(
            f'resuming from {path}, the newest loadable checkpoint in {work_dir}: '
            + (problem or f'{pointer} does not exist')
            + (f'; skipped {"; ".join(skipped)}' if skipped else '')
        )
        return path
    if problem or skipped:
        warn(
            f'no loadable checkpoint to resume from in {work_dir} '
            f'({"; ".join(filter(None, [problem, *skipped]))}): training starts from scratch'
        )
    return None
