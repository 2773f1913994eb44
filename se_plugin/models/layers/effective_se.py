"""Effective Squeeze-and-Excitation (Lee and Park, CenterMask, CVPR 2020, arXiv 1911.06667).

eSE is SE with one ``C -> C`` 1x1 convolution in place of the bottleneck
(the reduction loses channel information) and a hard sigmoid gate, as in
VoVNetV2's OSA modules.
"""

from __future__ import annotations

from typing import Optional, Union

from mmcv.cnn import build_conv_layer
from torch import Tensor

from se_plugin.checks import (
    GATE_ACTIVATIONS,
    check_act_cfg,
    check_bool,
    check_choice,
    check_conv2d,
    check_conv_cfg,
)
from se_plugin.models.layers.activation import build_activation
from se_plugin.registry import MODELS

from .channel_scale import ChannelScaleLayer
from .functional import SQUEEZE_OPS, full_precision


@MODELS.register_module()
class EffectiveSELayer(ChannelScaleLayer):
    """Effective Squeeze-and-Excitation (eSE).

    Global pooling to ``(N, C, 1, 1)``, one ``C -> C`` 1x1 convolution with a
    bias, the hard sigmoid ``relu6(x + 3) / 6`` (CenterMask's code and timm's
    ``EffectiveSEModule``; mmcv's ``HSigmoid`` with its defaults), and the
    input multiplied channel by channel with the gate's output.

    Args:
        in_channels (int): Channels of the input (and output).
        bias (bool): Whether the 1x1 convolution has a bias. Default: True.
        squeeze (str): Squeeze operator, one of ``'avg'`` (the paper's),
            ``'max'``, ``'avgmax'`` (timm's ``add_maxpool=True``).
            Default: 'avg'.
        conv_cfg (dict, optional): Config of the 1x1 convolution (mmcv
            ``build_conv_layer``). Default: None (``nn.Conv2d``).
        act_cfg (dict): The gate, one of ``'Sigmoid'``, ``'HSigmoid'``,
            ``'Tanh'``, ``'ReLU'``. Default: dict(type='HSigmoid').
        impl (str): ``'fused'`` (SE's fused Functions, see
            :class:`~se_plugin.models.layers.channel_scale.ChannelScaleLayer`:
            in a residual block the norm before the layer is folded in, so
            its output is not kept for the backward), ``'recompute'`` or
            ``'reference'`` (plain autograd). The same function either way.
            Default: 'fused'.
        init_cfg (dict | list[dict], optional): Initialization config.
            Default: None.

    The convolution is ``self.fc``, named and shaped as timm's
    ``EffectiveSEModule.fc``.

    Example:
        >>> import torch
        >>> from se_plugin.models import EffectiveSELayer
        >>> layer = EffectiveSELayer(64)
        >>> layer(torch.rand(2, 64, 8, 8)).shape
        torch.Size([2, 64, 8, 8])
        >>> sum(p.numel() for p in layer.parameters())  # 64 * 64 + 64
        4160
    """

    def __init__(
        self,
        in_channels: int,
        bias: bool = True,
        squeeze: str = 'avg',
        conv_cfg: Optional[dict] = None,
        act_cfg: dict = dict(type='HSigmoid'),
        impl: str = 'fused',
        init_cfg: Optional[Union[dict, list]] = None,
    ) -> None:
        super().__init__(in_channels, impl, init_cfg)
        self.squeeze = check_choice('squeeze', squeeze, SQUEEZE_OPS)
        bias = check_bool('bias', bias)
        conv_cfg = check_conv_cfg('conv_cfg', conv_cfg)
        gate_cfg = check_act_cfg('act_cfg', act_cfg, GATE_ACTIVATIONS)
        self.fc = build_conv_layer(conv_cfg, self.in_channels, self.in_channels, 1, bias=bias)
        check_conv2d('conv_cfg', self.fc, conv_cfg)
        self.gate = build_activation(gate_cfg)

    def excite(self, pooled: Tensor) -> Tensor:
        """``(N, C)`` pooled values to weights: the 1x1 convolution, the gate."""
        with full_precision(pooled):
            pooled = pooled.to(next(self.fc.parameters()).dtype)[:, :, None, None]
            return self.gate(self.fc(pooled)).flatten(1)

    def extra_repr(self) -> str:
        return f'squeeze={self.squeeze!r}, impl={self.impl!r}'
