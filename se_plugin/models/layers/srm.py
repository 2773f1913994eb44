"""Style-based Recalibration Module (Lee, Kim, Nam, SRM, ICCV 2019, arXiv 1903.10829).

Style pooling (each channel's mean and standard deviation over the positions),
style integration (a channel-wise fully connected layer: two weights per
channel), batch norm and a sigmoid gate.
"""

from __future__ import annotations

from typing import Optional, Union

import torch
from mmcv.cnn import build_norm_layer
from torch import Tensor, nn

from se_plugin.checks import check_norm_cfg, check_real
from se_plugin.registry import MODELS

from .base import AttentionModule
from .fused.kernels import acc_dtype, deviations_divisor


def style_pool(x: Tensor, eps: float) -> Tensor:
    """``(N, C, 2)``: per channel, the mean and ``sqrt(var + eps)`` over the positions.

    ``var`` is the unbiased variance (``torch.var``, as the authors' code),
    divided by ``max(H * W - 1, 1)``: a single position has variance 0 (the
    authors' code gives NaN there). fp16/bf16 inputs reduce in, and give, fp32.
    """
    flat = x.flatten(2).to(acc_dtype(x))
    mean = flat.mean(2, keepdim=True)
    var = (flat - mean).square().sum(2, keepdim=True) / deviations_divisor(x, flat.dtype)
    return torch.cat([mean, (var + eps).sqrt()], dim=2)


@MODELS.register_module()
class SRMLayer(AttentionModule):
    """Style-based Recalibration Module.

    ``t = [mean(x), std(x)]`` per channel (style pooling, see
    :func:`style_pool`), ``z = cfc[:, 0] * mean + cfc[:, 1] * std`` (the
    channel-wise FC, no bias), ``g = sigmoid(BN(z))``, output ``x * g``.

    As in the authors' code: the channel-wise FC is ``self.cfc``, a
    ``(C, 2)`` parameter initialised to zeros, and the norm is
    ``self.bn``, a ``BatchNorm2d`` on the ``(N, C, 1, 1)`` values, so the
    official weights load 1:1. The authors' first release takes
    ``torch.std`` (no eps; its gradient is infinite on a constant channel);
    the version of their code that most copies use adds ``eps=1e-5`` to the
    variance, the default here (``eps=0`` for the first release).

    Args:
        in_channels (int): Channels of the input (and output).
        eps (float): Added to the variance before the square root.
            Default: 1e-5.
        norm_cfg (dict, optional): Norm of ``z`` (mmcv ``build_norm_layer``,
            built for ``in_channels``); None for none. Default: dict(type='BN').
        impl (str): ``'recompute'`` (in a residual block, the block's last
            norm and this module are recomputed in the backward, see
            :class:`~se_plugin.models.layers.base.AttentionModule`) or
            ``'reference'`` (plain autograd). The same function either way.
            Default: 'recompute'.
        init_cfg (dict | list[dict], optional): Initialization config.
            Default: None.

    Example:
        >>> import torch
        >>> from se_plugin.models import SRMLayer
        >>> layer = SRMLayer(64)
        >>> layer.cfc.shape, sum(p.numel() for p in layer.parameters())
        (torch.Size([64, 2]), 256)
        >>> layer(torch.rand(2, 64, 7, 7)).shape
        torch.Size([2, 64, 7, 7])
    """

    def __init__(
        self,
        in_channels: int,
        eps: float = 1e-5,
        norm_cfg: Optional[dict] = dict(type='BN'),
        impl: str = 'recompute',
        init_cfg: Optional[Union[dict, list]] = None,
    ) -> None:
        super().__init__(in_channels, impl, init_cfg)
        self.eps = float(check_real('eps', eps, minimum=0))
        norm_cfg = check_norm_cfg('norm_cfg', norm_cfg, channels=(self.in_channels,))
        self.cfc = nn.Parameter(torch.zeros(self.in_channels, 2))
        self.bn = (
            nn.Identity() if norm_cfg is None else build_norm_layer(norm_cfg, self.in_channels)[1]
        )
        self.gate = nn.Sigmoid()

    def excitation(self, x: Tensor) -> Tensor:
        """The ``(N, C, 1, 1)`` channel weights, in the input's dtype.

        The integration, norm and gate run in the parameters' dtype (fp32 under
        mixed precision: ``(N, C)`` values, nothing to save by rounding them).
        """
        self._check_input(x)
        style = style_pool(x, self.eps).to(self.cfc.dtype)
        z = (style * self.cfc).sum(2)[:, :, None, None]
        return self.gate(self.bn(z)).to(x.dtype)

    def forward(self, x: Tensor) -> Tensor:
        """``x * sigmoid(BN(cfc . [mean, std]))``."""
        return x * self.excitation(x)

    def extra_repr(self) -> str:
        return f'eps={self.eps}'
