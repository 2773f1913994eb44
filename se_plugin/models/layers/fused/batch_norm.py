"""A block's last batch norm in the fast paths: run once, rebuilt from its batch statistics.

Training batch norm costs two passes over its input (the statistics, then the
affine map); the affine map alone is one. Where a fast path needs the norm's
output again in the backward (a recomputed segment, a fused module that keeps
only the norm's input), it rebuilds it from the forward's batch ``mean`` and
``invstd`` in one pass, bitwise the same output (:func:`affine_from_stats`),
and the running statistics are updated once, by the forward.

* :func:`batch_norm_settings`: what ``nn.BatchNorm2d.forward`` would use
  (training flag, running buffers, momentum), counting the batch.
* :func:`uses_batch_statistics`: whether a norm is a plain ``nn.BatchNorm2d``
  normalising with the batch's statistics (the case the rebuild covers).
* :class:`BatchNormFromStats`: that norm as one autograd Function, for a
  segment that the backward recomputes (:mod:`..recompute`).
* :class:`RunningStatisticsKept`: restores the running statistics of the
  norms a recomputation (or a re-run reference) would update a second time.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor
from torch.nn.modules.batchnorm import _NormBase

from .autograd import reference_grads
from .kernels import affine_from_stats, batch_norm_backward


def batch_norm_settings(norm: nn.BatchNorm2d) -> tuple:
    """``(training, running_mean, running_var, momentum)`` as ``nn.BatchNorm2d.forward`` uses them.

    Counts the batch in ``num_batches_tracked`` as its forward does (the
    cumulative average when ``momentum`` is None).
    """
    momentum = 0.0 if norm.momentum is None else norm.momentum
    if norm.training and norm.track_running_stats and norm.num_batches_tracked is not None:
        norm.num_batches_tracked.add_(1)
        if norm.momentum is None:
            momentum = 1.0 / float(norm.num_batches_tracked)
    training = norm.training or (norm.running_mean is None and norm.running_var is None)
    keep_stats = not norm.training or norm.track_running_stats
    return (
        training,
        norm.running_mean if keep_stats else None,
        norm.running_var if keep_stats else None,
        momentum,
    )


def uses_batch_statistics(norm: nn.Module) -> bool:
    """Whether ``norm`` is an ``nn.BatchNorm2d`` (exactly) that normalises with batch statistics.

    Training mode, or no running statistics to use. Subclasses (SyncBatchNorm,
    ...) may compute their statistics otherwise and are not covered.
    """
    return type(norm) is nn.BatchNorm2d and (
        norm.training or (norm.running_mean is None and norm.running_var is None)
    )


def batch_norm_train(z: Tensor, norm: nn.BatchNorm2d) -> tuple:
    """``(norm(z), mean, invstd)`` for a norm with :func:`uses_batch_statistics`.

    The kernel ``nn.BatchNorm2d`` runs (same output, running statistics and
    ``num_batches_tracked`` updated as its forward updates them), plus the
    batch ``mean`` and ``invstd`` (fp32 for fp16/bf16 ``z``).
    """
    _, running_mean, running_var, momentum = batch_norm_settings(norm)
    return torch.native_batch_norm(
        z, norm.weight, norm.bias, running_mean, running_var, True, momentum, norm.eps
    )


class RunningStatisticsKept:
    """Context: restore the running statistics of the norms in ``modules`` on exit.

    A recomputed forward would update them a second time. Only the norms of
    the recomputed segment are restored, and without a version change of the
    buffers (which autograd saves with a batch norm's graph). Reusable (a
    checkpoint enters its recomputation context once per recomputation, e.g.
    twice in a double backward).
    """

    def __init__(self, *modules: nn.Module) -> None:
        self.buffers = [
            buf
            for module in modules
            for norm in module.modules()
            if isinstance(norm, _NormBase)
            for buf in (norm.running_mean, norm.running_var, norm.num_batches_tracked)
            if buf is not None
        ]
        self.saved = []

    def __enter__(self) -> None:
        self.saved = [buf.clone() for buf in self.buffers]

    def __exit__(self, *exc) -> None:
        # through .data: a norm's own update of its statistics does not count as an
        # in-place change of a tensor autograd saved, and neither does undoing it
        for buf, value in zip(self.buffers, self.saved):
            buf.data.copy_(value)
        self.saved = []


class BatchStatistics:
    """The batch ``mean`` and ``invstd`` of one call of a norm (None until its forward ran)."""

    __slots__ = ('mean', 'invstd')

    def __init__(self) -> None:
        self.mean: Optional[Tensor] = None
        self.invstd: Optional[Tensor] = None


class BatchNormFromStats(torch.autograd.Function):
    """A training ``nn.BatchNorm2d`` whose recomputation reuses the forward's batch statistics.

    ``apply(z, weight, bias, norm, stats)`` with ``stats`` a fresh
    :class:`BatchStatistics` per call of the segment: the first run (the
    forward) is the norm itself (:func:`batch_norm_train`) and fills
    ``stats``; every later run (a checkpoint's recomputation, again in a
    double backward) rebuilds the same output in one affine pass and touches
    no running statistics. Both runs save the same tensors (what batch norm's
    own node saves), and the backward is batch norm's backward kernel with
    those statistics; a backward asked for a graph differentiates
    ``F.batch_norm``.
    """

    @staticmethod
    def forward(ctx, z: Tensor, weight, bias, norm: nn.BatchNorm2d, stats: BatchStatistics):
        if stats.mean is None:
            out, stats.mean, stats.invstd = batch_norm_train(z, norm)
        else:
            out = affine_from_stats(z, weight, bias, stats.mean, stats.invstd)
        ctx.eps = norm.eps
        ctx.save_for_backward(z, weight, bias, stats.mean, stats.invstd)
        return out

    @staticmethod
    def backward(ctx, grad: Tensor):
        z, weight, bias, mean, invstd = ctx.saved_tensors
        needs = ctx.needs_input_grad[:3]
        if torch.is_grad_enabled():  # create_graph=True: differentiate the plain batch norm
            eps = ctx.eps
            grads = reference_grads(
                lambda z, weight, bias: F.batch_norm(z, None, None, weight, bias, True, 0.0, eps),
                (z, weight, bias),
                needs,
                grad,
            )
            return (*grads, None, None)
        mask = [needs[0], needs[1] and weight is not None, needs[2] and bias is not None]
        grad_z, grad_weight, grad_bias = batch_norm_backward(
            grad, z, weight, mean, invstd, ctx.eps, mask
        )
        return grad_z, grad_weight, grad_bias, None, None


__all__ = [
    'BatchNormFromStats',
    'BatchStatistics',
    'RunningStatisticsKept',
    'batch_norm_settings',
    'batch_norm_train',
    'uses_batch_statistics',
]
