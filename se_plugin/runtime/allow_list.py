"""The allow-list of the globals an mmengine checkpoint holds, for torch's
``weights_only`` unpickler (torch >= 2.6).

An mmengine training checkpoint holds, besides tensors, the message hub's
``HistoryBuffer`` and numpy values. ``HistoryBuffer`` pickles its statistics
methods as ``getattr(HistoryBuffer, 'min')``. Allowing ``builtins.getattr``
itself would let a file fetch any attribute of any allowed object, so the name
``builtins.getattr`` is bound to :func:`history_buffer_getattr`, which answers
that one pattern only.

torch, numpy and mmengine's history buffer are imported by the functions, not
by the module: :mod:`~se_plugin.runtime.install` installs the allow-list from
inside torch's first import, where this module must be importable without
importing torch again.
"""

from __future__ import annotations

import pickle
from typing import Any

__all__ = ['history_buffer_getattr', 'install_safe_globals', 'safe_globals']

# HistoryBuffer's own statistics; it adds them to `_statistics_methods` only when
# the first buffer is created, so a fresh process must know them by name.
HISTORY_BUFFER_STATISTICS = ('min', 'max', 'mean', 'current')


def history_buffer_getattr(obj: Any, name: str) -> Any:
    """``getattr`` restricted to ``HistoryBuffer``'s statistics methods."""
    from mmengine.logging.history_buffer import HistoryBuffer

    allowed = (*HISTORY_BUFFER_STATISTICS, *HistoryBuffer._statistics_methods)
    if obj is HistoryBuffer and isinstance(name, str) and name in allowed:
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'refused getattr({getattr(obj, "__name__", type(obj).__name__)}, {name!r}): only '
        'getattr(HistoryBuffer, <statistics method>) is allowed in a checkpoint'
    )


def _numpy_globals() -> list:
    import numpy as np

    multiarray = np._core.multiarray if hasattr(np, '_core') else np.core.multiarray
    reconstruct, scalar = multiarray._reconstruct, multiarray.scalar
    entries = [np.ndarray, np.dtype, np.dtypes.Float64DType, np.dtypes.Int64DType]
    # files written under numpy 1.x name numpy.core, under 2.x numpy._core
    for module in ('numpy._core.multiarray', 'numpy.core.multiarray'):
        entries += [(reconstruct, f'{module}._reconstruct'), (scalar, f'{module}.scalar')]
    return entries


def safe_globals() -> list:
    """The exact allow-list for mmengine checkpoints (torch ``safe_globals`` form)."""
    from mmengine.logging.history_buffer import HistoryBuffer

    return [HistoryBuffer, (history_buffer_getattr, 'builtins.getattr'), *_numpy_globals()]


_installed = False


def install_safe_globals() -> None:
    """Add the allow-list to torch's ``weights_only`` unpickler (idempotent)."""
    global _installed
    if not _installed:
        import torch

        torch.serialization.add_safe_globals(safe_globals())
        _installed = True
