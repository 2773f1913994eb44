"""Safe loading of mmengine checkpoints on torch >= 2.6.

torch >= 2.6 unpickles with ``weights_only=True``, which refuses the few
non-tensor objects an mmengine training checkpoint holds (the message hub's
``HistoryBuffer`` and numpy values), so ``--resume``, ``load_from`` and
``tools/test.py`` fail. The fix here is an allow-list of exactly those globals;
``weights_only=False`` (which runs arbitrary code from the file) is never used.

``HistoryBuffer`` pickles its statistics methods as ``getattr(HistoryBuffer,
'min')``. Allowing ``builtins.getattr`` itself would let a file fetch any
attribute of any allowed object, so the name ``builtins.getattr`` is bound to
:func:`history_buffer_getattr`, which answers that one pattern only.

Importing :mod:`se_plugin` installs the allow-list and makes mmengine's local
checkpoint loader report unsafe or corrupt files with a clear
:class:`CheckpointError` naming the file.
"""

from __future__ import annotations

import os
import pickle
import re
from typing import Any

import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader

__all__ = [
    'CheckpointError',
    'history_buffer_getattr',
    'safe_globals',
    'install_safe_globals',
    'load_checkpoint_file',
]


class CheckpointError(ValueError):
    """A checkpoint file that is unsafe, corrupt or truncated."""


def history_buffer_getattr(obj: Any, name: str) -> Any:
    """``getattr`` restricted to ``HistoryBuffer``'s registered statistics."""
    if obj is HistoryBuffer and isinstance(name, str) and name in HistoryBuffer._statistics_methods:
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'refused getattr({getattr(obj, "__name__", type(obj).__name__)}, {name!r}): only '
        'getattr(HistoryBuffer, <statistics method>) is allowed in a checkpoint'
    )


def _numpy_globals() -> list:
    multiarray = np._core.multiarray if hasattr(np, '_core') else np.core.multiarray
    reconstruct, scalar = multiarray._reconstruct, multiarray.scalar
    entries = [np.ndarray, np.dtype, np.dtypes.Float64DType, np.dtypes.Int64DType]
    # files written under numpy 1.x name numpy.core, under 2.x numpy._core
    for module in ('numpy._core.multiarray', 'numpy.core.multiarray'):
        entries += [(reconstruct, f'{module}._reconstruct'), (scalar, f'{module}.scalar')]
    return entries


def safe_globals() -> list:
    """The exact allow-list for mmengine checkpoints (torch ``safe_globals`` form)."""
    return [HistoryBuffer, (history_buffer_getattr, 'builtins.getattr'), *_numpy_globals()]


_installed = False


def install_safe_globals() -> None:
    """Add the allow-list to torch's ``weights_only`` unpickler (idempotent)."""
    global _installed
    if not _installed:
        torch.serialization.add_safe_globals(safe_globals())
        _installed = True


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
    CheckpointLoader.register_scheme(prefixes='', force=True)(_load_from_local)
