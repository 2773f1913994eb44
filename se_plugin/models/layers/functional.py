"""Functions several attention layers share: the global squeeze and the full-precision MLP.

* :func:`squeeze`: global spatial pooling of an ``(N, C, H, W)`` map to
  ``(N, C)`` by one of :data:`SQUEEZE_OPS` (SE, ECA, eSE, CBAM, GC, GE, SK).
  It is the one squeeze of the package: the fused Functions pool through the
  same :func:`~se_plugin.models.layers.fused.kernels.pool_parts`.
* :func:`full_precision`: the context an attention MLP on ``(N, C)`` values
  runs in under mixed precision.
"""

from __future__ import annotations

import contextlib

import torch
from torch import Tensor

from .fused.kernels import combine_parts, pool_parts

SQUEEZE_OPS = ('avg', 'max', 'avgmax')


def squeeze(x: Tensor, op: str) -> Tensor:
    """Global spatial pooling of an ``(N, C, H, W)`` tensor to ``(N, C)``.

    ``'avg'`` is the mean, ``'max'`` the maximum, ``'avgmax'`` the mean of the
    two (timm's convention). The result is fp32 for fp16/bf16 inputs (an fp16
    sum of large activations overflows), else of the input's dtype.

    Example:
        >>> import torch
        >>> x = torch.arange(8.0).view(1, 2, 2, 2)
        >>> squeeze(x, 'avg'), squeeze(x, 'avgmax')
        (tensor([[1.5000, 5.5000]]), tensor([[2.2500, 6.2500]]))
    """
    return combine_parts(pool_parts(x, op), op)


def full_precision(x: Tensor):
    """Autocast off for an attention layer's MLP on ``(N, C)`` values (a no-op without autocast).

    The MLP is tiny, so it costs nothing to run it in the parameters' dtype
    (fp32 under mixed precision, as NeMo does for SE): its gate then is not
    quantised to fp16/bf16, and on CPUs without bf16 instructions it is faster.
    """
    device = x.device.type
    if torch.is_autocast_enabled(device):
        return torch.autocast(device, enabled=False)
    return contextlib.nullcontext()


__all__ = ['SQUEEZE_OPS', 'full_precision', 'squeeze']
