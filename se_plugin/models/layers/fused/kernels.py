"""Per-plane reductions and affine maps of ``(N, C, H, W)`` tensors.

These are the passes over memory an attention layer costs (its MLP is tiny).
Each function computes one plain formula (given in its docstring) and picks
the fastest form for the tensor's device, dtype and layout; every form
computes the same values. Private aten kernels are called only here, each
behind a check and with a public-op fallback:

* batch norm's CPU kernels, with the ``N * C`` planes of a tensor viewed as
  the channels of a ``(1, N * C, H, W)`` batch, give per-plane sums
  (``native_batch_norm_backward``) and per-plane affine maps (inference
  ``batch_norm``) in one pass with fp32 accumulation, where broadcasting an
  ``(N, C, 1, 1)`` operand over small planes is slow;
* ``batch_norm_update_stats`` gives a batch norm's statistics (and updates
  its running ones) without writing the normalised tensor.

Reductions of fp16/bf16 tensors accumulate in fp32 and return fp32: an fp16
mean of large activations would otherwise overflow. While a graph is captured
or transformed (tracing, export, ``torch.compile``, ``torch.func``) every
function takes its plain form.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from .autograd import plain_graph_required

REDUCED_DTYPES = (torch.float16, torch.bfloat16)
_BN_BACKWARD = getattr(torch.ops.aten, 'native_batch_norm_backward', None)
_UPDATE_STATS = getattr(torch, 'batch_norm_update_stats', None)
_CPU_KERNEL_DTYPES = (torch.float32, torch.float64, *REDUCED_DTYPES)
# Below this many positions per plane (14x14 and smaller) the per-sample calls of the
# channels-last kernel, and the reduced-precision kernel, cost more than the plain ops.
_MIN_KERNEL_HW = 400


def acc_dtype(x: Tensor) -> torch.dtype:
    """The dtype reductions of ``x`` accumulate in and return: fp32 for fp16/bf16."""
    return torch.float32 if x.dtype in REDUCED_DTYPES else x.dtype


def deviations_divisor(x: Tensor, dtype: torch.dtype) -> Tensor:
    """``max(H * W - 1, 1)`` of an ``(N, C, H, W)`` tensor, as a 0-dim tensor of ``dtype``.

    The divisor of an unbiased spatial variance (SRM, SimAM), 1 for ``1 x 1``
    maps (variance 0 there, not 0 / 0). A tensor op rather than Python's
    ``max()`` so that a trace or an export keeps it for every input size.
    """
    return x.new_full((), x.shape[2] * x.shape[3] - 1, dtype=dtype).clamp(min=1)


def is_channels_last(x: Tensor) -> bool:
    return x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()


def _cpu_kernel_ok(*tensors: Tensor) -> bool:
    x = tensors[0]
    return (
        _BN_BACKWARD is not None
        and not plain_graph_required()
        and x.device.type == 'cpu'
        and x.dtype in _CPU_KERNEL_DTYPES
        and all(t.dtype == x.dtype for t in tensors)
        and x.dim() == 4
        and x.shape[2] * x.shape[3] > 1
        and x.numel() > 0
        and not (torch.is_grad_enabled() and any(t.requires_grad for t in tensors))
    )


def _plane_sums(
    grad: Tensor, x: Tensor, with_dot: bool, with_sum: bool, center: Optional[Tensor] = None
) -> Optional[tuple]:
    """``(sum_hw(grad * (x - center)), sum_hw(grad))`` (each or None) by batch norm's backward.

    The kernel computes ``sum(grad * (x - mean) * invstd)`` and ``sum(grad)``
    per channel in one read of both tensors, in fp32 for fp16/bf16; with
    ``mean = center`` (per channel C, default 0), ``invstd = 1`` and the planes
    as channels these are the per-plane sums. None where it does not apply
    (or is slower).
    """
    if not _cpu_kernel_ok(grad, x):
        return None
    n, c, h, w = x.shape
    reduced = x.dtype in REDUCED_DTYPES
    mask = [False, with_dot, with_sum]
    stats = dict(dtype=acc_dtype(x), device=x.device)
    means = torch.zeros(c, **stats) if center is None else center.to(**stats)
    if grad.is_contiguous() and x.is_contiguous() and (not reduced or h * w >= _MIN_KERNEL_HW):
        view = (1, n * c, h, w)
        args = (None, None, None, means.repeat(n), torch.ones(n * c, **stats), True, 0.0, mask)
        _, dot, total = _BN_BACKWARD(grad.view(view), x.view(view), *args)
        return (
            dot.view(n, c) if with_dot else None,
            total.view(n, c) if with_sum else None,
        )
    channels_last = torch.channels_last
    if (
        h * w >= _MIN_KERNEL_HW
        and grad.is_contiguous(memory_format=channels_last)
        and x.is_contiguous(memory_format=channels_last)
    ):
        args = (None, None, None, means, torch.ones(c, **stats), True, 0.0, mask)
        parts = [_BN_BACKWARD(grad[i : i + 1], x[i : i + 1], *args) for i in range(n)]
        return (
            torch.stack([part[1] for part in parts]) if with_dot else None,
            torch.stack([part[2] for part in parts]) if with_sum else None,
        )
    return None


def channel_dot(a: Tensor, b: Tensor) -> Tensor:
    """``(a * b).sum((2, 3))`` of two ``(N, C, H, W)`` tensors, as ``(N, C)``, no product tensor."""
    sums = _plane_sums(a, b, with_dot=True, with_sum=False)
    return (a * b).sum((2, 3), dtype=acc_dtype(a)) if sums is None else sums[0]


def channel_sums(grad: Tensor, z: Tensor, center: Optional[Tensor] = None) -> tuple:
    """``(sum_hw(grad * (z - center)), sum_hw(grad))`` as two ``(N, C)`` tensors, one read of both.

    ``center`` (per channel, default 0) is subtracted before the product, in
    the accumulation dtype: with a batch norm's mean it keeps the sum exact
    where ``sum(grad * z) - mean * sum(grad)`` would cancel.
    """
    sums = _plane_sums(grad, z, with_dot=True, with_sum=True, center=center)
    if sums is not None:
        return sums
    acc = acc_dtype(grad)
    dot, total = (grad * z).sum((2, 3), dtype=acc), grad.sum((2, 3), dtype=acc)
    return dot if center is None else dot - center.to(acc) * total, total


def spatial_mean(x: Tensor) -> Tensor:
    """``x.mean((2, 3))`` as ``(N, C)``, accumulated (and returned) in :func:`acc_dtype`.

    Channels-last CPU tensors go through ``avg_pool2d`` (about twice as fast
    as ``mean`` over strided dims there), large fp16/bf16 NCHW planes through
    the per-plane sum kernel.
    """
    h, w = x.shape[2:]
    if plain_graph_required():
        return x.mean((2, 3), dtype=acc_dtype(x))
    if is_channels_last(x) and x.device.type == 'cpu':
        return F.avg_pool2d(x, (h, w)).flatten(1).to(acc_dtype(x))
    if x.dtype in REDUCED_DTYPES and x.is_contiguous() and h * w >= _MIN_KERNEL_HW:
        sums = _plane_sums(x, x, with_dot=False, with_sum=True)
        if sums is not None:
            return sums[1] / (h * w)
    return x.mean((2, 3), dtype=acc_dtype(x))


def spatial_max(x: Tensor) -> Tensor:
    """``x.amax((2, 3))`` as ``(N, C)``; channels-last CPU tensors through ``max_pool2d``."""
    if not plain_graph_required() and is_channels_last(x) and x.device.type == 'cpu':
        return F.max_pool2d(x, x.shape[2:]).flatten(1)
    return x.amax((2, 3))


def pool_parts(x: Tensor, op: str) -> list:
    """The ``(N, C)`` poolings a squeeze ``op`` combines: [mean] (``'avg'``), [max] or both.

    In :func:`acc_dtype` (the max cast to it); :func:`combine_parts` makes the
    squeeze of them.
    """
    parts = []
    if op in ('avg', 'avgmax'):
        parts.append(spatial_mean(x))
    if op in ('max', 'avgmax'):
        parts.append(spatial_max(x).to(acc_dtype(x)))
    return parts


def combine_parts(parts: list, op: str) -> Tensor:
    """The squeeze from :func:`pool_parts`: ``'avgmax'`` is the mean of both (timm's convention)."""
    return 0.5 * parts[0] + 0.5 * parts[1] if op == 'avgmax' else parts[0]


def scale_shift(x: Tensor, scale: Tensor, shift: Optional[Tensor] = None) -> Tensor:
    """``x * scale + shift`` in x's dtype, for ``(N, C, H, W)`` x and ``(N, C)`` scale and shift.

    NCHW CPU tensors: batch norm's inference kernel, the planes as channels
    (zero mean, unit variance), one pass whatever the plane size. Elsewhere
    one broadcast ``addcmul`` (``mul`` then ``add`` for fp16/bf16 on CPU,
    where the broadcast ``addcmul`` is several times slower).
    """
    n, c, h, w = x.shape
    if _cpu_kernel_ok(x) and x.is_contiguous():
        stats = dict(dtype=acc_dtype(x), device=x.device)
        bias = torch.zeros(n * c, **stats) if shift is None else shift.reshape(n * c).to(**stats)
        out = torch.empty_like(x)  # written through a view: the result is no view itself
        unused = torch.empty(0, **stats), torch.empty(0, **stats)
        torch.native_batch_norm(
            x.view(1, n * c, h, w),
            scale.reshape(n * c).to(**stats),
            bias,
            torch.zeros(n * c, **stats),
            torch.ones(n * c, **stats),
            False,
            0.0,
            0.0,
            out=(out.view(1, n * c, h, w), *unused),
        )
        return out
    scale = scale.to(x.dtype)[:, :, None, None]
    if shift is None:
        return x * scale
    shift = shift.to(x.dtype)[:, :, None, None]
    if x.device.type == 'cpu' and x.dtype in REDUCED_DTYPES:
        return (x * scale).add_(shift)
    return torch.addcmul(shift, x, scale)


def scale_add(x: Tensor, scale: Tensor, residual: Tensor, inplace: bool = False) -> Tensor:
    """``x * scale + residual`` for an ``(N, C)`` ``scale``; ``inplace`` writes it into ``x``."""
    if inplace:
        return x.mul_(scale.to(x.dtype)[:, :, None, None]).add_(residual)
    return scale_shift(x, scale).add_(residual)


def batch_norm_statistics(
    z: Tensor, running_mean: Optional[Tensor], running_var: Optional[Tensor], momentum: float
) -> tuple:
    """Batch mean and biased variance of ``z`` per channel, updating the running statistics.

    Updates as ``nn.BatchNorm2d`` does (unbiased variance into ``running_var``)
    without writing a normalised tensor. Statistics are fp32 for fp16/bf16 ``z``.
    """
    acc = acc_dtype(z)
    if _UPDATE_STATS is not None and not torch.compiler.is_compiling():
        if running_mean is None:  # scratch buffers: the kernel then returns fp32 statistics
            c = z.shape[1]
            running_mean, running_var, momentum = (
                z.new_zeros(c, dtype=acc),
                z.new_ones(c, dtype=acc),
                0.0,
            )
        mean, var = _UPDATE_STATS(z, running_mean, running_var, momentum)
        return mean.to(acc), var.to(acc)
    var, mean = torch.var_mean(z.to(acc), (0, 2, 3), unbiased=False)
    if running_mean is not None:
        count = z.numel() // z.shape[1]
        unbiased = var * (count / max(count - 1, 1))
        running_mean.lerp_(mean.to(running_mean.dtype), momentum)
        running_var.lerp_(unbiased.to(running_var.dtype), momentum)
    return mean, var


def add_scaled_(out: Tensor, x: Tensor, scale: Tensor) -> Tensor:
    """``out += x * scale`` in place, for an ``(N, C)`` ``scale``.

    One in-place ``addcmul_``, except for fp16/bf16 NCHW CPU tensors, where
    the broadcast ``addcmul_`` over small planes is slow: there the product
    goes through :func:`scale_shift` and is added.
    """
    if x.dtype in REDUCED_DTYPES and _cpu_kernel_ok(x) and x.is_contiguous():
        return out.add_(scale_shift(x, scale))
    return out.addcmul_(x, scale.to(x.dtype)[:, :, None, None])


def batch_norm_backward(
    grad_x: Tensor,
    z: Tensor,
    gamma: Optional[Tensor],
    mean: Tensor,
    invstd: Tensor,
    eps: float,
    mask: list,
) -> tuple:
    """``(grad_z, grad_gamma, grad_beta)`` of a training-mode batch norm ``x = bn(z)``.

    Batch norm's own backward kernel, given the forward's ``mean`` and
    ``invstd`` (fp32 arithmetic for fp16/bf16 tensors, one rounding of the
    result); entries that ``mask`` does not ask for are None.
    """
    if _BN_BACKWARD is not None and not torch.compiler.is_compiling():
        return _BN_BACKWARD(grad_x, z, gamma, None, None, mean, invstd, True, eps, mask)
    leaf = z.detach().requires_grad_()
    weight = None if gamma is None else gamma.detach().requires_grad_()
    with torch.enable_grad():
        x = F.batch_norm(leaf, None, None, weight, None, True, 0.0, eps)
        inputs = [t for t, need in zip((leaf, weight), mask[:2]) if need and t is not None]
        grads = iter(torch.autograd.grad(x, inputs, grad_x) if inputs else ())
    grad_z = next(grads) if mask[0] else None
    grad_gamma = next(grads) if mask[1] and weight is not None else None
    grad_beta = grad_x.sum((0, 2, 3)) if mask[2] else None
    return grad_z, grad_gamma, grad_beta
