"""Coordinate Attention (Hou, Zhou, Feng, CVPR 2021, arXiv 2103.02907).

Channel attention that keeps positions: the input is averaged along each
spatial axis separately, the two strips share one 1x1 reduction, and each gives
a gate along its axis; the output is ``x * a_h * a_w``.
"""

from __future__ import annotations

from typing import Optional, Union

import torch
from mmcv.cnn import build_norm_layer
from torch import Tensor, nn

from se_plugin.checks import (
    HIDDEN_ACTIVATIONS,
    check_act_cfg,
    check_bool,
    check_int,
    check_norm_cfg,
)
from se_plugin.models.layers.activation import build_activation
from se_plugin.registry import MODELS

from .base import AttentionModule
from .fused.kernels import acc_dtype


def strip_mean(x: Tensor, dim: int) -> Tensor:
    """The mean of ``x`` along one spatial axis (kept), accumulated in fp32 for fp16/bf16."""
    return x.mean(dim, keepdim=True, dtype=acc_dtype(x)).to(x.dtype)


@MODELS.register_module()
class CoordAttention(AttentionModule):
    """Coordinate Attention.

    With ``mip = max(min_channels, in_channels // reduction)`` (the authors'
    code): ``x_h = mean_W(x)`` (``N, C, H, 1``) and ``x_w = mean_H(x)``
    (``N, C, W, 1`` after a transpose) are concatenated along the spatial axis,
    reduced by a shared 1x1 conv ``conv1`` (C -> mip), normalized (``bn1``)
    and activated (h-swish), split back into ``f_h`` and ``f_w``, and each
    gives a gate: ``a_h = sigmoid(conv_h(f_h))``, ``a_w = sigmoid(conv_w(f_w))``.
    The output is ``x * a_h * a_w`` (Eq. 7-9 of the paper).

    Module names (``conv1``, ``bn1``, ``conv_h``, ``conv_w``) are those of the
    authors' code and of timm's ``CoordAttn``, so weights convert 1:1. timm's
    defaults differ from the paper's: there the width is
    ``make_divisible(C / 16 * 2/3, 8)`` and the convs have no bias; timm's
    ``CoordAttn(C, rd_ratio=1/32, se_factor=1, bias=False)`` is
    ``CoordAttention(C, bias=False)`` for every ``C`` that is a multiple of
    256 (all ResNet-50 widths).

    Args:
        in_channels (int): Channels of the input (and output).
        reduction (int): Reduction ratio r of the shared conv (paper: 32).
            Default: 32.
        min_channels (int): Lower bound of the reduced width (paper's code:
            8). Default: 8.
        bias (bool): Whether the three 1x1 convs have a bias (as in the
            authors' code). Default: True.
        norm_cfg (dict, optional): Norm after the shared conv (mmcv
            ``build_norm_layer``); None for none. Default: dict(type='BN').
        act_cfg (dict): Activation after the norm, one of
            ``HIDDEN_ACTIVATIONS`` (h-swish in the paper).
            Default: dict(type='HSwish').
        impl (str): ``'recompute'`` (in a residual block, the block's last
            norm and this module are recomputed in the backward, see
            :class:`~se_plugin.models.layers.base.AttentionModule`) or
            ``'reference'`` (plain autograd). The same function either way.
            Default: 'recompute'.
        init_cfg (dict | list[dict], optional): Initialization config.
            Default: None.

    Example:
        >>> import torch
        >>> from se_plugin.models import CoordAttention
        >>> layer = CoordAttention(256)
        >>> layer.conv1.out_channels
        8
        >>> layer(torch.rand(2, 256, 7, 5)).shape
        torch.Size([2, 256, 7, 5])
    """

    def __init__(
        self,
        in_channels: int,
        reduction: int = 32,
        min_channels: int = 8,
        bias: bool = True,
        norm_cfg: Optional[dict] = dict(type='BN'),
        act_cfg: dict = dict(type='HSwish'),
        impl: str = 'recompute',
        init_cfg: Optional[Union[dict, list]] = None,
    ) -> None:
        super().__init__(in_channels, impl, init_cfg)
        reduction = check_int('reduction', reduction, minimum=1)
        min_channels = check_int('min_channels', min_channels, minimum=1)
        act_cfg = check_act_cfg('act_cfg', act_cfg, HIDDEN_ACTIVATIONS)
        bias = check_bool('bias', bias)
        self.mid_channels = max(min_channels, self.in_channels // reduction)
        norm_cfg = check_norm_cfg('norm_cfg', norm_cfg, channels=(self.mid_channels,))
        mid = self.mid_channels
        self.conv1 = nn.Conv2d(self.in_channels, mid, 1, bias=bias)
        self.bn1 = nn.Identity() if norm_cfg is None else build_norm_layer(norm_cfg, mid)[1]
        self.act = build_activation(act_cfg)
        self.conv_h = nn.Conv2d(mid, self.in_channels, 1, bias=bias)
        self.conv_w = nn.Conv2d(mid, self.in_channels, 1, bias=bias)
        self.gate = nn.Sigmoid()

    def excitation(self, x: Tensor) -> tuple:
        """The gates ``(a_h, a_w)`` of shapes ``(N, C, H, 1)`` and ``(N, C, 1, W)``."""
        self._check_input(x)
        height, width = x.shape[2:]
        x_h = strip_mean(x, 3)  # (N, C, H, 1)
        x_w = strip_mean(x, 2).transpose(2, 3)  # (N, C, W, 1)
        y = self.act(self.bn1(self.conv1(torch.cat([x_h, x_w], dim=2))))
        f_h, f_w = torch.split(y, [height, width], dim=2)
        return self.gate(self.conv_h(f_h)), self.gate(self.conv_w(f_w.transpose(2, 3)))

    def forward(self, x: Tensor) -> Tensor:
        """``x * a_h * a_w``."""
        a_h, a_w = self.excitation(x)
        return x * a_w * a_h
