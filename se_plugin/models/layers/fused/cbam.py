"""CBAM's full-size passes: the channel-wise pooling of the spatial attention, and its gradients.

With ``x1 = x * M_c`` (the channel-attended input) and ``p = [mean_C(x1);
max_C(x1)]`` the ``(N, 2, H, W)`` map the spatial attention convolves:

* :func:`channel_pool` computes ``p`` (accumulated in fp32 for fp16/bf16);
* :func:`add_channel_pool_grad_` adds its gradient to ``grad_x1`` in place:
  ``grad_p[:, 0] / C`` everywhere and ``grad_p[:, 1]`` split evenly among the
  channels equal to the maximum (``amax``'s gradient, :mod:`.amax`);
* :func:`spatial_weight_grad` is ``sum_C(g * x1)``, the gradient of the
  spatial weights ``M_s`` in ``out = x1 * M_s``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .amax import add_amax_grad_
from .kernels import acc_dtype


def channel_pool(x: Tensor) -> Tensor:
    """``[mean_C(x); max_C(x)]`` as ``(N, 2, H, W)`` in :func:`~.kernels.acc_dtype`."""
    acc = acc_dtype(x)
    return torch.cat([x.mean(1, keepdim=True, dtype=acc), x.amax(1, keepdim=True).to(acc)], 1)


def add_channel_pool_grad_(
    grad_x: Tensor, x: Tensor, pooled: Tensor, grad_pooled: Tensor
) -> Tensor:
    """``grad_x += d channel_pool(x) / d x`` applied to ``grad_pooled``, in place.

    ``pooled`` is :func:`channel_pool` of ``x`` (its maximum locates the ties).
    """
    mean_share = grad_pooled[:, :1] / x.shape[1]
    grad_x.add_(mean_share.to(grad_x.dtype))
    return add_amax_grad_(grad_x, x, pooled[:, 1:], grad_pooled[:, 1:].to(x.dtype), (1,))


def spatial_weight_grad(grad: Tensor, x: Tensor) -> Tensor:
    """``sum_C(grad * x)`` as ``(N, 1, H, W)``, accumulated in :func:`~.kernels.acc_dtype`."""
    return (grad * x).sum(1, keepdim=True, dtype=acc_dtype(x))


__all__ = ['add_channel_pool_grad_', 'channel_pool', 'spatial_weight_grad']
