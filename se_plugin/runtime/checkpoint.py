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
import zipfile
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
        detail = str(err).strip().splitlines()
        reason = next((line for line in detail if 'global' in line.lower()), detail[0])
        raise CheckpointError(
            f'refused to load {filename}: it holds an object outside the allow-list of '
            f'mmengine checkpoint globals ({reason.strip()}); nothing from it was executed'
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(
            f'cannot read checkpoint {filename}: the file is corrupt or truncated ({first})'
        ) from None


def _load_from_local(filename: str, map_location: Any) -> Any:
    return load_checkpoint_file(filename, map_location)


def register_checkpoint_loader() -> None:
    """Make mmengine's loader for local paths use :func:`load_checkpoint_file`."""
    CheckpointLoader.register_scheme(prefixes='', force=True)(_load_from_local)
