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
import torch.nn.functional as F
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

from .base import FusedAttentionModule
from .functional import full_precision
from .fused.amax import add_amax_grad_
from .fused.autograd import small_graph, small_graph_grads
from .fused.batch_norm import RunningStatisticsKept
from .fused.cbam import add_channel_pool_grad_, channel_pool, spatial_weight_grad
from .fused.kernels import acc_dtype, channel_dot, scale_shift, spatial_mean


@MODELS.register_module()
class CBAM(FusedAttentionModule):
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
        impl (str): ``'fused'`` (hand-written backward; in a residual block
            the block's batch norm folded in, see
            :class:`~se_plugin.models.layers.base.FusedAttentionModule`),
            ``'recompute'`` (in a residual block, the block's last norm and
            this module are recomputed in the backward) or ``'reference'``
            (plain autograd). The same function either way. Default: 'fused'.
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
        impl: str = 'fused',
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

    def _channel_params(self) -> list:
        return [p for m in (self.fc1, self.act, self.fc2, self.gate) for p in m.parameters()]

    def _spatial_params(self) -> list:
        return [p for m in (self.spatial, self.spatial_gate) for p in m.parameters()]

    def channel_weight(self, x: Tensor) -> Tensor:
        """``M_c``: the ``(N, C, 1, 1)`` channel weights (the MLP in the parameters' dtype)."""
        avg, peak = spatial_mean(x), x.amax((2, 3)).to(acc_dtype(x))  # (N, C) each
        with full_precision(avg):
            dtype = self.fc1.weight.dtype
            logits = self._mlp(avg.to(dtype)[:, :, None, None])
            logits = logits + self._mlp(peak.to(dtype)[:, :, None, None])
            return self.gate(logits).to(x.dtype)

    def spatial_weight(self, x: Tensor) -> Tensor:
        """``M_s``: the ``(N, 1, H, W)`` spatial weights of the channel-attended ``x``.

        In the parameters' dtype, also under autocast (the convolution sees two
        channels: it is small, and its gate is then not rounded to 8 bits).
        """
        pooled = channel_pool(x)
        with full_precision(x):
            return self.spatial_gate(self.spatial(pooled.to(self.fc1.weight.dtype)))

    def reference_forward(self, x: Tensor) -> Tensor:
        """Channel attention, then spatial attention, in plain ops."""
        x = x * self.channel_weight(x)
        return x * self.spatial_weight(x).to(x.dtype)

    def _stacked_mlp(self, avg: Tensor, peak: Tensor) -> Tensor:
        """``gate(MLP(avg) + MLP(peak))`` as ``(N, C)``: one linear pair on both descriptors."""
        n = avg.shape[0]
        fc1, fc2 = self.fc1, self.fc2
        pooled = torch.cat([avg, peak]).to(fc1.weight.dtype)  # (2N, C)
        hidden = self.act(F.linear(pooled, fc1.weight.flatten(1), fc1.bias))
        out = F.linear(hidden, fc2.weight.flatten(1), fc2.bias)
        return self.gate(out[:n] + out[n:])

    def fused_forward(self, x: Tensor) -> tuple:
        """``x1 * M_s(x1)``, ``x1 = x * M_c(x)``; keeps the ``(N, 2, H, W)`` pooled map."""
        avg, peak = spatial_mean(x), x.amax((2, 3)).to(acc_dtype(x))
        with full_precision(x):
            with small_graph():
                leaves = [avg.requires_grad_(), peak.requires_grad_()]
                weight = self._stacked_mlp(*leaves)
            x1 = x * weight.detach().to(x.dtype)[:, :, None, None]
            pooled = channel_pool(x1).to(self.fc1.weight.dtype)
            spatial = self.spatial_gate(self.spatial(pooled))
        return x1.mul_(spatial.to(x.dtype)), (pooled,), (leaves, weight)

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
        """The spatial attention's gradients (its small graph rebuilt from the pooled map), then
        the channel attention's, with ``amax``'s tie-splitting gradient for both maxima."""
        (pooled,), (leaves, weight) = saved, state
        needs = {id(p): need for p, need in zip(params, need_params)}
        channel_params = self._channel_params()
        need_channel = need_x or any(needs[id(p)] for p in channel_params)
        mc = weight.detach().to(x.dtype)
        x1 = x * mc[:, :, None, None]
        grad_x1, grads = self._spatial_grads(pooled, x1, grad_out, need_channel, needs)
        del x1
        if need_channel:
            (grad_avg, grad_peak), channel_grads = small_graph_grads(
                weight,
                channel_dot(grad_x1, x),
                leaves if need_x else [],
                channel_params,
                [needs[id(p)] for p in channel_params],
            )
            grads.update(zip(map(id, channel_params), channel_grads))
        param_grads = [grads.get(id(p)) for p in params]
        if not need_x:
            return None, param_grads
        hw = x.shape[2] * x.shape[3]
        grad_x = scale_shift(grad_x1, mc, grad_avg / hw)
        peak, grad_peak = leaves[1].detach(), grad_peak.to(x.dtype)
        add_amax_grad_(grad_x, x, peak[:, :, None, None], grad_peak[:, :, None, None], (2, 3))
        return grad_x, param_grads

    def _spatial_grads(self, pooled, x1, grad_out, need_x1: bool, needs: dict) -> tuple:
        """``(grad_x1, {id(param): grad})`` of ``out = x1 * M_s(x1)`` (grad_x1 only if asked)."""
        params = [p for p in self._spatial_params() if needs[id(p)]]
        with torch.enable_grad(), full_precision(x1), RunningStatisticsKept(self.spatial):
            leaf = pooled.detach().requires_grad_(need_x1)  # the forward's statistics again
            spatial = self.spatial_gate(self.spatial(leaf))
        inputs = [leaf] * need_x1 + params
        grads = []
        if inputs:
            grad_spatial = spatial_weight_grad(grad_out, x1).to(spatial.dtype)
            grads = list(torch.autograd.grad(spatial, inputs, grad_spatial))
        param_grads = dict(zip(map(id, params), grads[need_x1:]))
        if not need_x1:
            return None, param_grads
        grad_x1 = grad_out * spatial.detach().to(x1.dtype)
        return add_channel_pool_grad_(grad_x1, x1, pooled, grads[0]), param_grads
