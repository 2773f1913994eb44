"""Convolutional Block Attention Module (Woo et al., CBAM, ECCV 2018, arXiv 1807.06521).

Channel attention, then spatial attention, applied in sequence (the paper's
best arrangement, Table 3):

* channel: ``M_c = gate(MLP(avgpool(x)) + MLP(maxpool(x)))``, one MLP
  (``C -> C / r -> C``) shared by both descriptors; ``x' = x * M_c``;
* spatial: ``M_s = gate(norm(conv7x7([mean_c(x'); max_c(x')])))`` over the
  2-channel map of channel-wise average and maximum; ``out = x' * M_s``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional, Union

import torch
from mmcv.cnn import ConvModule, build_conv_layer
from torch import Tensor

from se_plugin.checks import (
    check_act_pair,
    check_bool,
    check_norm_cfg,
    check_odd,
    check_squeeze_width,
)
from se_plugin.models.layers.activation import build_activation
from se_plugin.registry import MODELS

from .base import AttentionModule
from .functional import full_precision
from .fused.kernels import acc_dtype, pool_parts


def channel_pool(x: Tensor) -> Tensor:
    """The ``(N, 2, H, W)`` map of channel-wise mean and maximum (the mean accumulated in fp32)."""
    mean = x.mean(1, keepdim=True, dtype=acc_dtype(x)).to(x.dtype)
    return torch.cat([mean, x.amax(1, keepdim=True)], 1)


@MODELS.register_module()
class CBAM(AttentionModule):
    """Convolutional Block Attention Module.

    Args:
        in_channels (int): Channels of the input (and output).
        ratio (float): Reduction ratio r of the channel MLP; the hidden width
            is ``make_divisible(in_channels / ratio, divisor)``. Ignored when
            ``squeeze_channels`` is given. Default: 16 (the paper's).
        squeeze_channels (int, optional): Hidden width, overriding ``ratio``.
            Default: None.
        divisor (int): The hidden width is rounded to a multiple of this.
            Default: 1 (the paper's plain ``C / r``, as timm's CBAM).
        bias (bool): Whether the MLP's two 1x1 convolutions have a bias. The
            authors' code (``nn.Linear``) has them: ResNet-50 + CBAM has the
            paper's 28.09M parameters with ``bias=True``; timm's
            ``CbamModule`` has none (``mlp_bias=False``, 28.07M).
            Default: True.
        spatial_kernel_size (int): Kernel of the spatial attention's
            convolution, a positive odd int. Default: 7 (the paper's).
        norm_cfg (dict, optional): Norm after the spatial convolution, as in
            the authors' code (BN) and timm's (``ConvNormAct``, BN); None for
            the paper's formula without a norm (the convolution then has a
            bias). Default: dict(type='BN').
        act_cfg (dict | Sequence[dict]): Hidden activation of the MLP and the
            gate of both attentions. A single dict is used for both. Hidden:
            one of ``HIDDEN_ACTIVATIONS``; gate: ``'Sigmoid'``, ``'HSigmoid'``,
            ``'Tanh'`` or ``'ReLU'``.
            Default: (dict(type='ReLU'), dict(type='Sigmoid')).
        impl (str): ``'recompute'`` (in a residual block, the block's last
            norm and this module are recomputed in the backward, see
            :class:`~se_plugin.models.layers.base.AttentionModule`) or
            ``'reference'`` (plain autograd). The same function either way.
            Default: 'recompute'.
        init_cfg (dict | list[dict], optional): Initialization config.
            Default: None.

    Weights from timm's ``CbamModule``: ``channel.fc1``/``channel.fc2`` are
    ``fc1``/``fc2``; ``spatial.conv.conv``/``spatial.conv.bn`` are
    ``spatial.conv``/``spatial.bn``.

    Example:
        >>> import torch
        >>> from se_plugin.models import CBAM
        >>> layer = CBAM(64)
        >>> layer(torch.rand(2, 64, 8, 8)).shape
        torch.Size([2, 64, 8, 8])
        >>> layer.squeeze_channels, layer.spatial.conv.kernel_size
        (4, (7, 7))
    """

    def __init__(
        self,
        in_channels: int,
        ratio: float = 16,
        squeeze_channels: Optional[int] = None,
        divisor: int = 1,
        bias: bool = True,
        spatial_kernel_size: int = 7,
        norm_cfg: Optional[dict] = dict(type='BN'),
        act_cfg: Union[dict, Sequence[dict]] = (dict(type='ReLU'), dict(type='Sigmoid')),
        impl: str = 'recompute',
        init_cfg: Optional[Union[dict, list]] = None,
    ) -> None:
        super().__init__(in_channels, impl, init_cfg)
        self.squeeze_channels = check_squeeze_width(
            self.in_channels, ratio, squeeze_channels, divisor
        )
        bias = check_bool('bias', bias)
        kernel = check_odd('spatial_kernel_size', spatial_kernel_size)
        norm_cfg = check_norm_cfg('norm_cfg', norm_cfg, channels=(1,))  # the spatial map
        hidden_cfg, gate_cfg = check_act_pair(act_cfg)

        channels, hidden = self.in_channels, self.squeeze_channels
        self.fc1 = build_conv_layer(None, channels, hidden, 1, bias=bias)
        self.act = build_activation(hidden_cfg)
        self.fc2 = build_conv_layer(None, hidden, channels, 1, bias=bias)
        self.gate = build_activation(gate_cfg)
        self.spatial = ConvModule(
            2, 1, kernel, padding=kernel // 2, norm_cfg=norm_cfg, act_cfg=None
        )
        self.spatial_gate = build_activation(gate_cfg)

    def _mlp(self, pooled: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(pooled)))

    def channel_weight(self, x: Tensor) -> Tensor:
        """``M_c``: the ``(N, C, 1, 1)`` channel weights (the MLP in the parameters' dtype)."""
        avg, peak = pool_parts(x, 'avgmax')  # (N, C) each
        with full_precision(avg):
            dtype = self.fc1.weight.dtype
            logits = self._mlp(avg.to(dtype)[:, :, None, None])
            logits = logits + self._mlp(peak.to(dtype)[:, :, None, None])
            return self.gate(logits).to(x.dtype)

    def spatial_weight(self, x: Tensor) -> Tensor:
        """``M_s``: the ``(N, 1, H, W)`` spatial weights of the channel-attended ``x``."""
        return self.spatial_gate(self.spatial(channel_pool(x)))

    def forward(self, x: Tensor) -> Tensor:
        """Channel attention, then spatial attention: ``x' * M_s(x')`` with ``x' = x * M_c(x)``."""
        self._check_input(x)
        x = x * self.channel_weight(x)
        return x * self.spatial_weight(x).to(x.dtype)
