"""SimAM: a simple, parameter-free attention module (Yang et al., ICML 2021).

Each activation's importance is the inverse of its minimal energy (the
paper's Eq. 16): with ``mu`` and ``var`` the mean and variance of its
channel's ``H x W`` map,

``e_inv = (x - mu)^2 / (4 * (var + lambda)) + 0.5``,  ``out = x * sigmoid(e_inv)``.

The formula and its fused Function live in :mod:`.fused.simam`.
"""

from __future__ import annotations

from typing import Optional, Union

from torch import Tensor

from se_plugin.checks import check_positive_number
from se_plugin.registry import MODELS

from .base import AttentionModule
from .fused import fused_function_allowed
from .fused.simam import FusedSimAM, simam


@MODELS.register_module()
class SimAM(AttentionModule):
    """SimAM, a parameter-free 3-D (channel and spatial) attention.

    Args:
        in_channels (int): Channels of the input (and output); the plugin
            convention's argument, used only to check the input.
        e_lambda (float): lambda, the regulariser of the energy (added to
            the variance), > 0. Default: 1e-4 (the paper's).
        impl (str): ``'fused'`` (training keeps only the input for the
            backward, :class:`~se_plugin.models.layers.fused.simam.FusedSimAM`),
            ``'recompute'`` (the same Function; in a residual block the
            block's last norm and this module are also recomputed in the
            backward, so the block keeps only the norm's input, see
            :class:`~se_plugin.models.layers.base.AttentionModule`) or
            ``'reference'`` (plain autograd over the formula, which keeps
            four tensors of the input's size). The same function either way.
            Default: 'recompute'.
        init_cfg (dict | list[dict], optional): Initialization config.
            Default: None.

    Example:
        >>> import torch
        >>> from se_plugin.models import SimAM
        >>> layer = SimAM(64)
        >>> layer(torch.rand(2, 64, 8, 8)).shape
        torch.Size([2, 64, 8, 8])
        >>> len(list(layer.parameters()))
        0
    """

    impls = ('fused', 'recompute', 'reference')

    def __init__(
        self,
        in_channels: int,
        e_lambda: float = 1e-4,
        impl: str = 'recompute',
        init_cfg: Optional[Union[dict, list]] = None,
    ) -> None:
        super().__init__(in_channels, impl, init_cfg)
        self.e_lambda = float(check_positive_number('e_lambda', e_lambda))

    def forward(self, x: Tensor) -> Tensor:
        """``x * sigmoid((x - mu)^2 / (4 * (var + lambda)) + 0.5)``, per channel map."""
        self._check_input(x)
        # the Function calls no submodule: hooks on the layer fire around it
        if self.impl != 'reference' and fused_function_allowed((), x):
            return FusedSimAM.apply(x, self.e_lambda)
        return simam(x, self.e_lambda)

    def extra_repr(self) -> str:
        return f'e_lambda={self.e_lambda}, impl={self.impl!r}'
