"""Global Context's full-size passes: attention pooling and its gradients, as batched products.

With ``x`` viewed as ``(N, C, P)`` (``P = H * W`` positions), ``w`` the
conv_attn weight ``(C,)`` and ``b`` its bias, attention pooling is
``logits = w^T x + b`` (``(N, 1, P)``), ``alpha = softmax_P(logits)`` and
``context = x alpha^T`` (``(N, C, 1)``). Given the context's gradient ``g_c``
and the logits' gradient ``g_l`` (the softmax's backward is small), the
input's gradient is a rank-2 update of the fusion's
``grad_x = G + g_c alpha + w g_l`` (:func:`pooling_input_grad`, one pass),
where autograd's backward of a 1x1 convolution and a matmul makes two
full-size products and adds them up.

Computed in fp32 (the parameters' dtype) for fp16/bf16 inputs: a copy of
``x`` costs one pass, where emulated bf16 matrix products cost many.
"""

from __future__ import annotations

import torch
from torch import Tensor


def positions(x: Tensor, dtype: torch.dtype) -> Tensor:
    """``x`` as ``(N, C, H * W)`` in ``dtype`` (a copy only when the dtype differs)."""
    return x.to(dtype).reshape(x.shape[0], x.shape[1], -1)


def attention_logits(flat: Tensor, weight: Tensor) -> Tensor:
    """``w^T x`` as ``(N, 1, P)`` for ``flat`` ``(N, C, P)`` and a ``(1, C, 1, 1)`` weight."""
    return torch.matmul(weight.reshape(1, -1), flat)


def pooled_context(flat: Tensor, alpha: Tensor) -> Tensor:
    """``x alpha^T``: the ``(N, C, 1)`` context of ``(N, C, P)`` x and ``(N, 1, P)`` weights."""
    return torch.bmm(flat, alpha.transpose(1, 2))


def alpha_grad(flat: Tensor, grad_context: Tensor) -> Tensor:
    """``g_c^T x``: the ``(N, 1, P)`` gradient of the pooling weights from the context's."""
    return torch.bmm(grad_context.transpose(1, 2), flat)


def logits_weight_grad(flat: Tensor, grad_logits: Tensor) -> Tensor:
    """``sum_n g_l x^T`` as ``(1, C)``: the gradient of conv_attn's weight."""
    return torch.bmm(grad_logits, flat.transpose(1, 2)).sum(0)


def pooling_input_grad(
    grad_direct: Tensor, grad_context: Tensor, alpha: Tensor, weight: Tensor, grad_logits: Tensor
) -> Tensor:
    """``G + g_c alpha + w g_l`` for ``G`` the fusion's ``(N, C, H, W)`` gradient, in G's dtype.

    One batched rank-2 update where ``G`` has the products' dtype; otherwise
    the update in that dtype, then added to ``G``.
    """
    n, c = grad_direct.shape[:2]
    left = torch.cat([grad_context, weight.reshape(1, c, 1).expand(n, c, 1)], 2)  # (N, C, 2)
    right = torch.cat([alpha, grad_logits], 1)  # (N, 2, P)
    flat = grad_direct.reshape(n, c, -1)
    if flat.dtype == left.dtype:
        return torch.baddbmm(flat, left, right).view_as(grad_direct)
    update = torch.bmm(left, right).to(grad_direct.dtype)
    return update.add_(flat).view_as(grad_direct)


__all__ = [
    'alpha_grad',
    'attention_logits',
    'logits_weight_grad',
    'pooled_context',
    'pooling_input_grad',
    'positions',
]
