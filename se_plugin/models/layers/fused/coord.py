"""Coordinate Attention's full-size passes: the strip means, ``x * a_w * a_h`` and their gradients.

With ``a_h`` of shape ``(N, C, H, 1)`` and ``a_w`` of shape ``(N, C, 1, W)``,
``out = x * a_w * a_h`` has, for ``g`` the output's gradient,

* ``grad_a_h = sum_W(g * x * a_w)``, ``grad_a_w = sum_H(g * x * a_h)``:
  one product ``g * x`` and, per plane, a matrix-vector product each
  (:func:`coord_gate_grads`), instead of autograd's two full-size products
  and reductions per factor;
* ``grad_x = g * a_w * a_h + grad_x_h / W + grad_x_w / H`` with the strip
  means' gradients (:func:`coord_input_grad`), written into one tensor
  instead of three that autograd adds up.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .kernels import acc_dtype


def strip_means(x: Tensor) -> tuple:
    """``(mean_W(x), mean_H(x))`` of shapes ``(N, C, H, 1)`` and ``(N, C, 1, W)``, in acc dtype.

    Accumulated (and returned) in fp32 for fp16/bf16 ``x``.
    """
    acc = acc_dtype(x)
    return x.mean(3, keepdim=True, dtype=acc), x.mean(2, keepdim=True, dtype=acc)


def coord_scale(x: Tensor, a_h: Tensor, a_w: Tensor) -> Tensor:
    """``x * a_w * a_h`` (the factors in x's dtype) as a new tensor, rounded as the plain ops."""
    return torch.mul(x, a_w).mul_(a_h)


def coord_gate_grads(grad: Tensor, x: Tensor, a_h: Tensor, a_w: Tensor) -> tuple:
    """``(sum_W(g * x * a_w), sum_H(g * x * a_h))``, shaped as ``a_h`` and ``a_w``.

    ``g * x`` once, then per-plane matrix-vector products (NCHW tensors),
    else broadcast products and sums.
    """
    gx = grad * x
    n, c, h, w = x.shape
    if gx.is_contiguous():
        planes = gx.view(n * c, h, w)
        grad_h = torch.bmm(planes, a_w.reshape(n * c, w, 1)).view(n, c, h, 1)
        grad_w = torch.bmm(a_h.reshape(n * c, 1, h), planes).view(n, c, 1, w)
        return grad_h, grad_w
    return (gx * a_w).sum(3, keepdim=True), (gx * a_h).sum(2, keepdim=True)


def coord_input_grad(
    grad: Tensor, a_h: Tensor, a_w: Tensor, grad_x_h: Tensor, grad_x_w: Tensor
) -> Tensor:
    """``g * a_w * a_h + grad_x_h / W + grad_x_w / H`` in g's dtype (the strip means' gradients).

    ``grad_x_h`` and ``grad_x_w`` are the gradients of :func:`strip_means`'s
    outputs.
    """
    h, w = grad.shape[2:]
    out = torch.mul(grad, a_w).mul_(a_h)
    out.add_((grad_x_h / w).to(out.dtype))
    return out.add_((grad_x_w / h).to(out.dtype))


__all__ = ['coord_gate_grads', 'coord_input_grad', 'coord_scale', 'strip_means']
