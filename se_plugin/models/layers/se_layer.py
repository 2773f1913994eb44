"""Squeeze-and-Excitation layer (Hu et al., SENet, arXiv 1709.01507).

``SELayer(impl='reference')`` runs the textbook ops (squeeze, two 1x1 convs on
``(N, C, 1, 1)``, gate, ``x * w``), differentiated by autograd. The default
``impl='fused'`` computes the same function with the same parameters through
the fast paths of :class:`~se_plugin.models.layers.channel_scale.ChannelScaleLayer`
wherever they keep the module's behaviour, and through the textbook ops elsewhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional, Union

from mmcv.cnn import build_conv_layer
from torch import Tensor

from se_plugin.checks import (
    check_act_pair,
    check_bool,
    check_choice,
    check_conv2d,
    check_conv_cfg,
    check_squeeze_width,
)
from se_plugin.models.layers.activation import build_activation
from se_plugin.registry import MODELS

from .channel_scale import ChannelScaleLayer
from .functional import SQUEEZE_OPS, full_precision


@MODELS.register_module()
class SELayer(ChannelScaleLayer):
    """Squeeze-and-Excitation layer.

    Squeeze: global pooling to one value per channel. Excitation: a bottleneck
    of two 1x1 convolutions (``in_channels -> squeeze_channels -> in_channels``)
    with a hidden activation and a gate. Scale: the input multiplied channel by
    channel with the gate's output. The output has the shape of the input, so
    the layer fits anywhere a plugin of ``in_channels`` channels does (the
    mmcv plugin convention used by mmdet/mmseg ResNets).

    Args:
        in_channels (int): Channels of the input (and output).
        ratio (float): Reduction ratio r; the hidden width is
            ``make_divisible(in_channels / ratio, divisor)``. Ignored when
            ``squeeze_channels`` is given. Default: 16.
        squeeze_channels (int, optional): Hidden width, overriding ``ratio``.
            Default: None.
        divisor (int): The hidden width is rounded to a multiple of this (as in
            mmpretrain and timm). Use 1 for the paper's plain ``C / r``.
            Default: 8.
        bias (bool): Whether the two 1x1 convolutions have a bias. Default: True.
        squeeze (str): Squeeze operator, one of ``'avg'``, ``'max'``,
            ``'avgmax'`` (SENet Table 11). Default: 'avg'.
        conv_cfg (dict, optional): Config of the two 1x1 convolutions (mmcv
            ``build_conv_layer``). Default: None (``nn.Conv2d``).
        act_cfg (dict | Sequence[dict]): Hidden activation and gate. A single
            dict is used for both. Hidden: one of ``HIDDEN_ACTIVATIONS``; gate:
            ``'Sigmoid'``, ``'HSigmoid'``, ``'Tanh'`` or ``'ReLU'`` (SENet
            Table 12). Default: (dict(type='ReLU'), dict(type='Sigmoid')).
        return_weight (bool): Return the ``(N, C, 1, 1)`` excitation instead
            of the rescaled input. Default: False.
        impl (str): ``'fused'`` (the fused Functions of
            :mod:`se_plugin.models.layers.fused`; in a residual block the
            block's last norm is folded in), ``'recompute'`` (plain ops, in a
            block recomputed with its last norm in the backward) or
            ``'reference'`` (plain autograd over the textbook ops). All
            compute the same function with the same parameters and behave as
            the same module. From a backbone config:
            ``model.backbone.attn_cfg.impl=reference``. Default: 'fused'.
        init_cfg (dict | list[dict], optional): Initialization config.
            Default: None.

    Example:
        >>> import torch
        >>> from se_plugin.models import SELayer
        >>> layer = SELayer(64, ratio=4)
        >>> layer(torch.rand(2, 64, 8, 8)).shape
        torch.Size([2, 64, 8, 8])
        >>> layer.squeeze_channels
        16
    """

    def __init__(
        self,
        in_channels: int,
        ratio: float = 16,
        squeeze_channels: Optional[int] = None,
        divisor: int = 8,
        bias: bool = True,
        squeeze: str = 'avg',
        conv_cfg: Optional[dict] = None,
        act_cfg: Union[dict, Sequence[dict]] = (dict(type='ReLU'), dict(type='Sigmoid')),
        return_weight: bool = False,
        impl: str = 'fused',
        init_cfg: Optional[Union[dict, list]] = None,
    ) -> None:
        super().__init__(in_channels, impl, init_cfg)
        in_channels = self.in_channels
        conv_cfg = check_conv_cfg('conv_cfg', conv_cfg)
        squeeze_channels = check_squeeze_width(in_channels, ratio, squeeze_channels, divisor)
        hidden_cfg, gate_cfg = check_act_pair(act_cfg)

        self.squeeze_channels = squeeze_channels
        self.squeeze = check_choice('squeeze', squeeze, SQUEEZE_OPS)
        self.return_weight = check_bool('return_weight', return_weight)
        bias = check_bool('bias', bias)
        self.fc1 = build_conv_layer(conv_cfg, in_channels, squeeze_channels, 1, bias=bias)
        check_conv2d('conv_cfg', self.fc1, conv_cfg)
        self.act = build_activation(hidden_cfg)
        self.fc2 = build_conv_layer(conv_cfg, squeeze_channels, in_channels, 1, bias=bias)
        self.gate = build_activation(gate_cfg)

    def excite(self, pooled: Tensor) -> Tensor:
        """``gate(fc2(act(fc1(.))))``: ``(N, C)`` pooled values to ``(N, C)`` weights."""
        with full_precision(pooled):
            pooled = pooled.to(next(self.fc1.parameters()).dtype)[:, :, None, None]
            return self.gate(self.fc2(self.act(self.fc1(pooled)))).flatten(1)

    def extra_repr(self) -> str:
        return f'squeeze={self.squeeze!r}, return_weight={self.return_weight}, impl={self.impl!r}'
