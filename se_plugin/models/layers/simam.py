"""SimAM: a simple, parameter-free attention module (Yang et al., ICML 2021).

Each activation's importance is the inverse of its minimal energy (the
paper's Eq. 16): with ``mu`` and ``var`` the mean and variance of its
channel's ``H x W`` map,

``e_inv = (x - mu)^2 / (4 * (var + lambda)) + 0.5``,  ``out = x * sigmoid(e_inv)``.
"""

from __future__ import annotations

from typing import Optional, Union

from mmengine.model import BaseModule
from torch import Tensor

from se_plugin.checks import check_feature_map, check_int, check_positive_number
from se_plugin.registry import MODELS

from .fused.kernels import acc_dtype


def simam(x: Tensor, e_lambda: float) -> Tensor:
    """SimAM's ``x * sigmoid(e_inv)`` on an ``(N, C, H, W)`` tensor.

    ``var`` is the sum of squared deviations over ``n = H * W - 1`` (the
    authors' code); for ``1 x 1`` maps, where that is 0 / 0, it is 0, so
    the output is ``x * sigmoid(0.5)``. Reductions of fp16/bf16 tensors
    accumulate in fp32.
    """
    n = max(x.shape[2] * x.shape[3] - 1, 1)
    acc = acc_dtype(x)
    d2 = (x - x.mean((2, 3), keepdim=True, dtype=acc).to(x.dtype)).square()
    var = d2.sum((2, 3), keepdim=True, dtype=acc).to(x.dtype) / n
    return x * (d2 / (4 * (var + e_lambda)) + 0.5).sigmoid()


@MODELS.register_module()
class SimAM(BaseModule):
    """SimAM, a parameter-free 3-D (channel and spatial) attention.

    Args:
        in_channels (int): Channels of the input (and output); the plugin
            convention's argument, used only to check the input.
        e_lambda (float): lambda, the regulariser of the energy (added to
            the variance), > 0. Default: 1e-4 (the paper's).
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
        init_cfg: Optional[Union[dict, list]] = None,
    ) -> None:
        super().__init__(init_cfg)
        self.in_channels = check_int('in_channels', in_channels, minimum=1)
        self.e_lambda = float(check_positive_number('e_lambda', e_lambda))

    def forward(self, x: Tensor) -> Tensor:
        """``x * sigmoid((x - mu)^2 / (4 * (var + lambda)) + 0.5)``, per channel map."""
        check_feature_map(f'SimAM({self.in_channels})', x, self.in_channels)
        return simam(x, self.e_lambda)

    def extra_repr(self) -> str:
        return f'e_lambda={self.e_lambda}'
