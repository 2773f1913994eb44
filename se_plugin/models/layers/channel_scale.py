"""Layers that rescale channels from a global pooling (SE, ECA, eSE), and their fast paths.

``x * excite(squeeze(x))``: a subclass gives the squeeze op and the
excitation MLP (:meth:`ChannelScaleLayer.excite`); this base runs it through
the fused Functions of :mod:`se_plugin.models.layers.fused.se`
(``impl='fused'``), where in a residual block the block's last batch norm is
folded in so that the block keeps no more for the backward than without the
layer.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn as nn
from torch import Tensor

from .base import AttentionModule
from .functional import squeeze
from .fused import (
    FusedNormSqueezeScale,
    FusedSqueezeScale,
    fused_function_allowed,
    has_hooks,
    plain_ops_required,
)
from .fused.se import scale_plain


class ChannelScaleLayer(AttentionModule):
    """Base of the layers that compute ``x * excite(squeeze(x))`` (SE, ECA, eSE).

    A subclass sets ``squeeze`` (one of ``SQUEEZE_OPS``) and implements
    :meth:`excite`, the MLP from pooled ``(N, C)`` values to ``(N, C)``
    weights. The modes (``impl``): ``'fused'`` (default) runs
    :class:`~se_plugin.models.layers.fused.FusedSqueezeScale` and, in a
    residual block, :class:`~se_plugin.models.layers.fused.FusedNormSqueezeScale`
    (the block's ``BatchNorm2d`` folded in); ``'recompute'`` the plain ops,
    recomputed with the block's norm in the backward; ``'reference'`` the
    plain ops. Where a fast path would change the module's behaviour (hooks,
    graph capture, empty batches, see
    :func:`~se_plugin.models.layers.fused.autograd.plain_ops_required`), the
    plain ops run.

    Args:
        in_channels (int): Channels of the input (and output).
        impl (str): ``'fused'``, ``'recompute'`` or ``'reference'``.
            Default: 'fused'.
        init_cfg (dict | list[dict], optional): Initialization config.
            Default: None.
    """

    impls = ('fused', 'recompute', 'reference')
    return_weight = False
    squeeze = 'avg'

    def __init__(
        self,
        in_channels: int,
        impl: str = 'fused',
        init_cfg: Optional[dict] = None,
    ) -> None:
        super().__init__(in_channels, impl, init_cfg)

    def excite(self, pooled: Tensor) -> Tensor:
        """The excitation MLP: ``(N, C)`` pooled values to ``(N, C)`` weights.

        Calls the layer's submodules as built (their hooks fire), in the
        parameters' dtype, also under autocast (see
        :func:`~se_plugin.models.layers.functional.full_precision`).
        """
        raise NotImplementedError(f'{type(self).__name__} must implement excite(pooled)')

    def excitation(self, x: Tensor) -> Tensor:
        """The ``(N, C, 1, 1)`` channel weights for an ``(N, C, H, W)`` input, in x's dtype."""
        self._check_input(x)
        return self._weight(x)

    def _weight(self, x: Tensor) -> Tensor:
        return self.excite(squeeze(x, self.squeeze)).to(x.dtype)[:, :, None, None]

    def reference_forward(self, x: Tensor) -> Tensor:
        """``x * excitation(x)`` in plain ops (what every fast path computes)."""
        return x * self._weight(x)

    def _fast(self, x: Tensor) -> bool:
        """Whether a fused path may run on ``x``: ``impl='fused'``, nothing requiring plain ops."""
        return self.impl == 'fused' and not self.return_weight and not plain_ops_required(x, self)

    def forward(
        self, x: Tensor, residual: Optional[Tensor] = None, inplace: bool = False
    ) -> Tensor:
        """``x`` rescaled channel by channel (the weights if ``return_weight``).

        Args:
            x (Tensor): ``(N, C, H, W)`` input.
            residual (Tensor, optional): Added to the result in the same pass
                (``x * w + residual``). Default: None.
            inplace (bool): With ``residual`` and no gradient recorded, write
                the result into ``x`` (a temporary of the caller, like the
                norm output a block adds its shortcut to). Default: False.
        """
        if self.return_weight:
            if residual is not None:
                raise ValueError('return_weight=True returns the weights: no residual to add')
            return self.excitation(x)
        self._check_input(x)
        if not self._fast(x):
            out = self.reference_forward(x)
            return out if residual is None else out + residual
        if fused_function_allowed(self.parameters(), x):
            return FusedSqueezeScale.apply(x, residual, self, *self.parameters())
        weight = self.excite(squeeze(x, self.squeeze))
        inplace = inplace and residual is not None and not torch.is_grad_enabled()
        return scale_plain(x, weight, residual, inplace)

    def forward_after_norm(
        self, z: Tensor, norm: nn.Module, residual: Optional[Tensor] = None
    ) -> Tensor:
        """``self(norm(z)) (+ residual)``, with ``norm`` folded in where that keeps the semantics.

        ``impl='fused'``, an ``nn.BatchNorm2d`` without hooks and the average
        squeeze: :class:`~se_plugin.models.layers.fused.FusedNormSqueezeScale`
        (training, also under autocast; inference with running statistics),
        which keeps only ``z`` for the backward. Otherwise the base's
        composition (``'recompute'``: recomputed in the backward).
        """
        if not self._fast(z):
            return super().forward_after_norm(z, norm, residual)
        if self._folds_norm(norm, z):
            params = (*self.parameters(),)
            return FusedNormSqueezeScale.apply(
                z, residual, norm.weight, norm.bias, norm, self, *params
            )
        return self.forward(norm(z), residual=residual, inplace=True)

    def _folds_norm(self, norm: nn.Module, z: Tensor) -> bool:
        if self.squeeze != 'avg' or type(norm) is not nn.BatchNorm2d or has_hooks(norm):
            return False
        params = (*self.parameters(), *norm.parameters())
        if fused_function_allowed(params, z):
            return True
        # nothing to differentiate: with running statistics the fold is one pass over z
        needs_grad = torch.is_grad_enabled() and (
            z.requires_grad or any(p.requires_grad for p in params)
        )
        return not (norm.training or needs_grad or z.dim() != 4 or z.numel() == 0)


__all__ = ['ChannelScaleLayer']
