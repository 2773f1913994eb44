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

from .base import FusedAttentionModule
from .functional import full_precision
from .fused.autograd import small_graph, small_graph_grads
from .fused.coord import coord_gate_grads, coord_input_grad, coord_scale, strip_means


@MODELS.register_module()
class CoordAttention(FusedAttentionModule):
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
        impl (str): ``'fused'`` (hand-written backward; in a residual block
            the block's batch norm folded in, see
            :class:`~se_plugin.models.layers.base.FusedAttentionModule`),
            ``'recompute'`` (in a residual block, the block's last norm and
            this module are recomputed in the backward) or ``'reference'``
            (plain autograd). The same function either way. Default: 'fused'.
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
        impl: str = 'fused',
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

    def gates(self, x_h: Tensor, x_w: Tensor) -> tuple:
        """``(a_h, a_w)`` from the strip means (:func:`~.fused.coord.strip_means`).

        The strip MLP (``conv1``, ``bn1``, ``act``, ``conv_h``, ``conv_w`` on
        ``(N, C, H + W, 1)``) runs in the parameters' dtype, also under
        autocast (as SE's MLP, :func:`~.functional.full_precision`): it is
        small, and its gates are then not rounded to 8 bits before they scale.
        """
        height, width = x_h.shape[2], x_w.shape[3]
        with full_precision(x_h):
            strips = torch.cat([x_h, x_w.transpose(2, 3)], dim=2).to(self.conv1.weight.dtype)
            y = self.act(self.bn1(self.conv1(strips)))
            f_h, f_w = torch.split(y, [height, width], dim=2)
            return self.gate(self.conv_h(f_h)), self.gate(self.conv_w(f_w.transpose(2, 3)))

    def excitation(self, x: Tensor) -> tuple:
        """The gates ``(a_h, a_w)``, ``(N, C, H, 1)`` and ``(N, C, 1, W)``, in x's dtype."""
        self._check_input(x)
        a_h, a_w = self.gates(*strip_means(x))
        return a_h.to(x.dtype), a_w.to(x.dtype)

    def reference_forward(self, x: Tensor) -> Tensor:
        """``x * a_w * a_h`` in plain ops."""
        a_h, a_w = self.excitation(x)
        return x * a_w * a_h

    def fused_forward(self, x: Tensor) -> tuple:
        """``x * a_w * a_h``, with the strip MLP's small graph as the backward's state."""
        with small_graph():
            leaves = [strip.requires_grad_() for strip in strip_means(x)]
            gates = self.gates(*leaves)
        a_h, a_w = (gate.detach().to(x.dtype) for gate in gates)
        return coord_scale(x, a_h, a_w), (), (leaves, gates)

    def fused_backward(
        self,
        saved: tuple,
        state,
        x: Tensor,
        grad_out: Tensor,
        need_x: bool,
        params: tuple,
        need_params: tuple,
    ) -> tuple:
        """Gate gradients by per-plane products, the MLP's from its graph, then ``grad_x``."""
        leaves, gates = state
        a_h, a_w = (gate.detach().to(x.dtype) for gate in gates)
        grad_gates = coord_gate_grads(grad_out, x, a_h, a_w)
        grad_strips, param_grads = small_graph_grads(
            gates, grad_gates, leaves if need_x else (), params, need_params
        )
        if not need_x:
            return None, param_grads
        return coord_input_grad(grad_out, a_h, a_w, *grad_strips), param_grads
