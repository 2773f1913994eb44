"""SimAM's formula, and the Function that keeps only its input for the backward.

Plain autograd of ``x * sigmoid((x - mu)^2 / D + 0.5)`` keeps four tensors of
the input's size (``x - mu``, its square, the gate and ``x``);
:class:`FusedSimAM` keeps ``x`` and the per-map ``mu`` and ``D`` and
recomputes the rest in its backward.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .autograd import reference_grads
from .kernels import acc_dtype, deviations_divisor


def simam_stats(x: Tensor, e_lambda: float) -> tuple:
    """``(mu, (x - mu)^2, D)`` of SimAM on an ``(N, C, H, W)`` tensor, ``D = 4 * (var + lambda)``.

    ``var`` is the sum of squared deviations over ``n = H * W - 1`` (the
    authors' code), ``n = 1`` for ``1 x 1`` maps (``var = 0`` instead of
    0 / 0). Reductions of fp16/bf16 tensors accumulate in fp32.
    """
    acc = acc_dtype(x)
    mu = x.mean((2, 3), keepdim=True, dtype=acc).to(x.dtype)
    d2 = (x - mu).square()
    var = d2.sum((2, 3), keepdim=True, dtype=acc).to(x.dtype) / deviations_divisor(x, x.dtype)
    return mu, d2, 4 * (var + e_lambda)


def simam(x: Tensor, e_lambda: float) -> Tensor:
    """SimAM's ``x * sigmoid((x - mu)^2 / (4 * (var + lambda)) + 0.5)`` in plain ops."""
    _, d2, denom = simam_stats(x, e_lambda)
    return x * (d2 / denom + 0.5).sigmoid()


class FusedSimAM(torch.autograd.Function):
    """:func:`simam` keeping only ``x`` (and the ``(N, C, 1, 1)`` ``mu`` and ``D``).

    ``apply(x, e_lambda)``. Backward, with ``d = x - mu``, ``s`` the gate,
    ``g_y = g * x * s * (1 - s)`` and ``n`` as in :func:`simam_stats`::

        grad_d = 2 d (g_y / D - 4 sum_hw(g_y d^2) / (n D^2))
        grad_x = g s + grad_d - mean_hw(grad_d)

    computed in fp32 for fp16/bf16 inputs. A backward asked for a graph
    differentiates :func:`simam` itself.
    """

    @staticmethod
    def forward(ctx, x: Tensor, e_lambda: float) -> Tensor:
        mu, d2, denom = simam_stats(x, e_lambda)
        ctx.e_lambda = e_lambda
        ctx.save_for_backward(x, mu, denom)
        return d2.div_(denom).add_(0.5).sigmoid_().mul_(x)  # = simam(x), in place

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        x, mu, denom = ctx.saved_tensors
        if not ctx.needs_input_grad[0]:
            return None, None
        if torch.is_grad_enabled():  # create_graph=True: differentiate the plain formula
            (grad_x,) = reference_grads(lambda x: simam(x, ctx.e_lambda), (x,), (True,), grad_out)
            return grad_x, None
        acc = acc_dtype(x)
        x_, g = x.to(acc), grad_out.to(acc)
        mu, denom = mu.to(acc), denom.to(acc)
        n = max(x.shape[2] * x.shape[3] - 1, 1)
        d = x_ - mu
        s = d.square().div_(denom).add_(0.5).sigmoid_()
        g_y = s.mul(1 - s).mul_(g).mul_(x_)
        k = (g_y * d.square()).sum((2, 3), keepdim=True).mul_(4 / n).div_(denom.square())
        grad_d = g_y.div_(denom).sub_(k).mul_(d).mul_(2)
        grad_x = grad_d.sub_(grad_d.mean((2, 3), keepdim=True)).addcmul_(g, s)
        return grad_x.to(x.dtype), None
