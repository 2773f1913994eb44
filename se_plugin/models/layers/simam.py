"""SimAM: a simple, parameter-free attention module (Yang et al., ICML 2021).

Each activation's importance is the inverse of its minimal energy (the
paper's Eq. 16): with ``mu`` and ``var`` the mean and variance of its
channel's ``H x W`` map,

``e_inv = (x - mu)^2 / (4 * (var + lambda)) + 0.5``,  ``out = x * sigmoid(e_inv)``.

The formula and its fused Function live in :mod:`.fused.simam`.
"""

from __future__ import annotations

from typing import Optional, Union

from mmengine.model import BaseModule
from torch import Tensor

from se_plugin.checks import check_choice, check_feature_map, check_int, check_positive_number
from se_plugin.registry import MODELS

from .fused import fused_function_allowed
from .fused.simam import FusedSimAM, simam
from .se_layer import SE_IMPLS


@MODELS.register_module()
class SimAM(BaseModule):
    """SimAM, a parameter-free 3-D (channel and spatial) attention.

    Args:
        in_channels (int): Channels of the input (and output); the plugin
            convention's argument, used only to check the input.
        e_lambda (float): lambda, the regulariser of the energy (added to
            the variance), > 0. Default: 1e-4 (the paper's).
        impl (str): ``'fused'`` (training keeps only the input for the
            backward, :class:`~se_plugin.models.layers.fused.simam.FusedSimAM`)
            or ``'reference'`` (plain autograd over the formula, which keeps
            four tensors of the input's size). The same function either way.
            Default: 'fused'.
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

    def __init__(
        self,
        in_channels: int,
        e_lambda: float = 1e-4,
        impl: str = 'fused',
        init_cfg: Optional[Union[dict, list]] = None,
    ) -> None:
        super().__init__(init_cfg)
        self.in_channels = check_int('in_channels', in_channels, minimum=1)
        self.e_lambda = float(check_positive_number('e_lambda', e_lambda))
        self.impl = check_choice('impl', impl, SE_IMPLS)

    def forward(self, x: Tensor) -> Tensor:
        """``x * sigmoid((x - mu)^2 / (4 * (var + lambda)) + 0.5)``, per channel map."""
        check_feature_map(f'SimAM({self.in_channels})', x, self.in_channels)
        # the Function calls no submodule: hooks on the layer fire around it
        if self.impl == 'fused' and fused_function_allowed((), x):
            return FusedSimAM.apply(x, self.e_lambda)
        return simam(x, self.e_lambda)

    def extra_repr(self) -> str:
        return f'e_lambda={self.e_lambda}, impl={self.impl!r}'
