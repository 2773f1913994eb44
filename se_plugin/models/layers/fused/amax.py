"""The gradient of ``amax`` (the maximum's gradient split evenly among ties), in fewer passes.

aten's ``amax`` backward is ``(g / mask.sum(dims)) * mask`` with
``mask = x == m``: a bool mask (an unvectorised compare on CPU), an int64
copy of it for the count and a float copy for the product. Here the mask is
written directly as 0/1 in x's dtype (one vectorised pass), counted in fp32
(exact below 2**24 ties) and cast to the gradient's dtype as aten casts its
int64 count, and the product is taken in place: bitwise aten's values,
NaN and infinities included.
"""

from __future__ import annotations

import torch
from torch import Tensor


def amax_mask(x: Tensor, peak: Tensor) -> Tensor:
    """``x == peak`` as 0/1 in x's dtype (``peak`` broadcast, e.g. amax's keepdim result)."""
    return torch.eq(x, peak.to(x.dtype), out=torch.empty_like(x))


def amax_grad(x: Tensor, peak: Tensor, grad: Tensor, dims: tuple) -> Tensor:
    """aten's ``amax`` backward for ``peak = x.amax(dims, keepdim=True)`` and its gradient ``grad``.

    ``grad / count`` at every position equal to the maximum, 0 elsewhere, in
    grad's dtype (``grad`` and ``peak`` broadcast over ``dims``).
    """
    mask = amax_mask(x, peak)
    count = mask.sum(dims, keepdim=True, dtype=torch.float32).to(grad.dtype)
    return mask.to(grad.dtype).mul_(grad / count)


def add_amax_grad_(out: Tensor, x: Tensor, peak: Tensor, grad: Tensor, dims: tuple) -> Tensor:
    """``out += amax_grad(x, peak, grad, dims)``, in place (the share cast to out's dtype)."""
    mask = amax_mask(x, peak)
    count = mask.sum(dims, keepdim=True, dtype=torch.float32).to(grad.dtype)
    return out.addcmul_(mask, (grad / count).to(out.dtype))


__all__ = ['add_amax_grad_', 'amax_grad', 'amax_mask']
