"""Recompute a block's last norm and its attention module in the backward (``impl='recompute'``).

Why: a residual block without attention keeps, at its end, only the input
``z`` of its last norm for the backward (the norm keeps it). An attention
module after the norm makes autograd keep the norm's output and every
full-size tensor the module computes (CBAM, Coordinate Attention,
Gather-Excite: 50-60% more activation memory in a ResNet-50). Attention is
cheap to compute and convolutions are not, so :func:`recompute_after_norm`
runs ``module(norm(z))`` under non-reentrant gradient checkpointing
(:func:`torch.utils.checkpoint.checkpoint`): the segment keeps nothing but
``z`` (which the plain block keeps anyway) and is recomputed once in the
backward, so any module costs the memory of the block without attention.

How it stays the same module: the recomputation runs the same ops under the
same autocast and random state, and leaves the running statistics of the
norms inside the segment (the block's last norm, a module's own batch norm)
as the forward left them. The plain composition runs instead wherever the
recomputation would change what a user sees or gains nothing
(:func:`recompute_applies`): no gradient to record, a graph being captured or
transformed, an empty batch, hooks on the norm or the module (they would fire
twice), or a block that checkpoints its whole forward itself (``with_cp``:
:func:`block_checkpoint_contexts`, so that the block recomputes once, not
twice).
"""

from __future__ import annotations

import contextlib
import functools
import threading
from typing import Optional

import torch
import torch.nn as nn
from torch import Tensor
from torch.nn.modules.batchnorm import _NormBase
from torch.utils.checkpoint import checkpoint

from .fused.autograd import plain_ops_required

_state = threading.local()


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


class _BlockCheckpointed:
    """Context (reusable): a block checkpoints its whole forward; no recomputation inside."""

    def __init__(self, block: Optional[nn.Module] = None) -> None:
        self.statistics = None if block is None else RunningStatisticsKept(block)

    def __enter__(self) -> None:
        _state.depth = getattr(_state, 'depth', 0) + 1
        if self.statistics is not None:
            self.statistics.__enter__()

    def __exit__(self, *exc) -> None:
        _state.depth -= 1
        if self.statistics is not None:
            self.statistics.__exit__(*exc)


def block_checkpoint_contexts(block: nn.Module) -> tuple:
    """``context_fn`` of a block that checkpoints its whole forward (``with_cp=True``).

    Returns the ``(forward, recomputation)`` contexts for
    ``torch.utils.checkpoint.checkpoint(..., use_reentrant=False)``: inside
    both, :func:`recompute_applies` is False (the block's recomputation
    already covers its attention), and the recomputation leaves the block's
    running statistics as the forward left them.
    """
    return _BlockCheckpointed(), _BlockCheckpointed(block)


def _needs_grad(z: Tensor, *modules: nn.Module) -> bool:
    if not torch.is_grad_enabled():
        return False
    return z.requires_grad or any(p.requires_grad for m in modules for p in m.parameters())


def recompute_applies(z: Tensor, norm: nn.Module, module: nn.Module) -> bool:
    """Whether :func:`recompute_after_norm` recomputes ``module(norm(z))`` rather than running it.

    Only in eager training with a gradient to record, outside a block's own
    checkpoint, with no graph capture or transform, a non-empty batch and no
    hook on ``norm`` or ``module`` (see
    :func:`~se_plugin.models.layers.fused.autograd.plain_ops_required`).
    """
    return (
        getattr(_state, 'depth', 0) == 0
        and _needs_grad(z, norm, module)
        and not plain_ops_required(z, norm, module)
    )


def _norm_then(module: nn.Module, norm: nn.Module, z: Tensor) -> Tensor:
    return module(norm(z))


def _segment_contexts(norm: nn.Module, module: nn.Module) -> tuple:
    return contextlib.nullcontext(), RunningStatisticsKept(norm, module)


def recompute_after_norm(z: Tensor, norm: nn.Module, module: nn.Module) -> Tensor:
    """``module(norm(z))``, keeping only ``z`` for the backward where :func:`recompute_applies`.

    Elsewhere the plain composition. ``module`` is any shape-keeping module;
    the result is the same either way (values, gradients of every order,
    running statistics).

    Example:
        >>> import torch
        >>> from torch import nn
        >>> norm, module = nn.BatchNorm2d(8), nn.Sequential(nn.Conv2d(8, 8, 1), nn.Sigmoid())
        >>> z = torch.randn(2, 8, 5, 5, requires_grad=True)
        >>> out = recompute_after_norm(z, norm, module)
        >>> out.shape, int(norm.num_batches_tracked)
        (torch.Size([2, 8, 5, 5]), 1)
        >>> out.sum().backward()  # recomputes norm and module; the statistics stay
        >>> int(norm.num_batches_tracked)
        1
    """
    if not recompute_applies(z, norm, module):
        return module(norm(z))
    return checkpoint(
        functools.partial(_norm_then, module, norm),
        z,
        use_reentrant=False,
        context_fn=functools.partial(_segment_contexts, norm, module),
    )


__all__ = [
    'block_checkpoint_contexts',
    'recompute_after_norm',
    'recompute_applies',
    'RunningStatisticsKept',
]
