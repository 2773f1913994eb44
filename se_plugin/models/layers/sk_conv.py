"""Selective Kernel convolution (Li et al., SKNet, arXiv 1903.06586)."""

from __future__ import annotations

from typing import Optional, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule, build_conv_layer
from mmengine.model import BaseModule
from torch import Tensor
from torch.autograd.function import once_differentiable

from se_plugin.checks import (
    HIDDEN_ACTIVATIONS,
    check_act_cfg,
    check_choice,
    check_divisible,
    check_int,
    check_positive_number,
    check_registered,
)
from se_plugin.registry import MODELS

from .se_layer import (
    SE_IMPLS,
    channel_dot,
    is_pointwise_linear,
    scale_shift,
    small_graph_grads,
    spatial_mean,
    use_autograd_function,
)

SK_IMPLS = SE_IMPLS


def conv_on_stride_grid(conv: nn.Module, x: Tensor) -> Optional[Tensor]:
    """``conv(x)`` computed on ``x[..., ::s, ::s]`` when that is the same thing, else None.

    A convolution with stride ``s`` whose dilation ``d`` and padding ``p`` are
    multiples of ``s`` reads only the input positions ``s * i + d * k - p``,
    all on the grid of every ``s``-th row and column. So it equals the
    stride-1 convolution of that grid with dilation ``d / s`` and padding
    ``p / s``, for any input size (the output sizes agree too). SKNet's
    dilated path in a downsampling block (stride 2, dilation 2) is such a
    convolution; its backward on CPU runs 1.5-3x faster this way (oneDNN's
    strided-dilated grouped backward is slow) and its input gradient is
    zero off the grid either way.

    Returns None when ``conv`` is not a plain ``nn.Conv2d`` with zero padding
    or the stride does not divide dilation and padding.
    """
    if type(conv) is not nn.Conv2d or conv.padding_mode != 'zeros':
        return None
    stride, dilation, padding = conv.stride, conv.dilation, conv.padding
    if isinstance(padding, str) or stride == (1, 1):
        return None
    if any(d % s or p % s for s, d, p in zip(stride, dilation, padding)):
        return None
    sh, sw = stride
    return F.conv2d(
        x[:, :, ::sh, ::sw],
        conv.weight,
        conv.bias,
        1,
        (padding[0] // sh, padding[1] // sw),
        (dilation[0] // sh, dilation[1] // sw),
        conv.groups,
    )


def run_path(path: nn.Module, x: Tensor) -> Tensor:
    """A path's ``ConvModule`` on ``x``, its conv through :func:`conv_on_stride_grid`."""
    if (
        tuple(path.order) == ('conv', 'norm', 'act')
        and not path.with_explicit_padding
        and path.efficient_conv_bn_eval_forward is None
    ):
        out = conv_on_stride_grid(path.conv, x)
        if out is not None:
            if path.with_norm:
                out = path.norm(out)
            return path.activate(out) if path.with_activation else out
    return path(x)


class FusedSelectiveSum(torch.autograd.Function):
    """``V = sum_m a_m * U_m`` with ``a = softmax(select(fuse(sum_m mean(U_m))))``.

    ``apply(layer, *paths, *params)``: the :class:`SKConv`, its path outputs
    ``U_1 .. U_M`` and its fuse/select parameters. Backward: per path one
    reduction ``grad_a_m = sum_hw(grad_V * U_m)`` (no full-size product, see
    :func:`~se_plugin.models.layers.se_layer.channel_dot`), the small graph's
    gradients by ``torch.autograd.grad``, and one pass per path for
    ``grad_U_m = grad_V * a_m + grad_s / HW``. Autograd's reference allocates
    three extra full-size tensors per path. Not twice differentiable.
    """

    @staticmethod
    def forward(ctx, layer: SKConv, *inputs: Tensor) -> Tensor:
        feats, params = inputs[: layer.num_paths], inputs[layer.num_paths :]
        pooled = spatial_mean(feats[0])
        for feat in feats[1:]:
            pooled = pooled + spatial_mean(feat)
        with torch.enable_grad():  # the small graph: pooled (N, C) -> weights (N, M, C)
            leaf = pooled.detach().requires_grad_()
            weights = layer._path_weights(leaf)
        a = weights.detach()[..., None, None]
        out = feats[0] * a[:, 0]
        for m in range(1, len(feats)):
            out.addcmul_(feats[m], a[:, m])
        ctx.save_for_backward(*feats)
        ctx.params, ctx.leaf, ctx.weights = params, leaf, weights
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: Tensor):
        feats = ctx.saved_tensors
        num_paths = len(feats)
        need_feats = ctx.needs_input_grad[1 : 1 + num_paths]
        need_params = ctx.needs_input_grad[1 + num_paths :]
        grad_weights = torch.stack([channel_dot(grad_out, feat) for feat in feats], 1)
        grad_leaf, param_grads = small_graph_grads(
            ctx.weights,
            grad_weights,
            [ctx.leaf] if any(need_feats) else [],
            ctx.params,
            need_params,
        )
        grad_feats = [None] * num_paths
        if any(need_feats):
            h, w = grad_out.shape[2:]
            spread = grad_leaf[0] / (h * w)
            a = ctx.weights.detach()
            grad_feats = [
                scale_shift(grad_out, a[:, m], spread) if need else None
                for m, need in enumerate(need_feats)
            ]
        return (None, *grad_feats, *param_grads)


@MODELS.register_module()
class SKConv(BaseModule):
    """Selective Kernel convolution: M kernel sizes mixed by channel attention.

    Split: ``num_paths`` (M) grouped 3x3 convolutions of the same input, path
    ``i`` with dilation ``i + 1`` (the receptive field of a ``(2i + 3)``-sized
    kernel, as in the paper's 5x5 -> dilated 3x3), each followed by norm and
    activation, giving ``U_1 .. U_M``. Fuse: ``s`` = global average pool of
    ``U = sum_m U_m``, then ``z = act(norm(W s))`` with ``W`` a 1x1 conv to
    ``d = max(out_channels / ratio, min_channels)`` channels (the paper's
    fuse FC carries BN and ReLU). Select: one 1x1 conv ``z ->
    M * out_channels`` (the paper's ``A, B, ...`` matrices, no bias), a softmax
    across the M paths for each channel, and the output
    ``V = sum_m a_m * U_m``.

    With ``num_paths=1`` the softmax is constantly 1: the layer reduces to one
    grouped conv-norm-act (the ResNeXt 3x3 stage) and builds no fuse/select
    parameters.

    In training mode the fuse norm (BN by default) sees one value per channel
    and sample, so feed at least two samples, as for any BN after a global
    pool.

    Args:
        in_channels (int): Channels of the input.
        out_channels (int): Channels of each path and of the output (C).
        stride (int): Stride of every path. Default: 1.
        num_paths (int): Number of paths M (kernels 3x3, 5x5, 7x7, ... as
            dilated 3x3 convs). Default: 2.
        groups (int): Groups of each path's 3x3 conv; must divide
            ``in_channels`` and ``out_channels``. Default: 32.
        ratio (float): Reduction ratio r of the fuse width. Default: 16.
        min_channels (int): Minimum fuse width L. Default: 32.
        dilation (int): Base dilation (a dilated ResNet stage); path ``i`` uses
            ``dilation * (i + 1)``. Default: 1.
        conv_cfg (dict, optional): Config of the convolutions (mmcv
            ``build_conv_layer``). Default: None (``nn.Conv2d``).
        norm_cfg (dict, optional): Config of the norm layers of the paths and
            of the fuse FC. None gives convs with bias and no norm.
            Default: dict(type='BN').
        act_cfg (dict): Activation of the paths and of the fuse FC, one of
            ``HIDDEN_ACTIVATIONS``. Default: dict(type='ReLU', inplace=True).
        impl (str): ``'fused'`` (the fuse/select MLP as ``linear`` on
            ``(N, C)`` and, in eager training, :class:`FusedSelectiveSum`)
            or ``'reference'`` (plain autograd over the modules). Same
            function, same parameters. Default: 'fused'.
        init_cfg (dict | list[dict], optional): Initialization config.
            Default: None.

    Example:
        >>> import torch
        >>> from se_plugin.models import SKConv
        >>> layer = SKConv(64, 128, stride=2, num_paths=3, groups=8)
        >>> layer(torch.rand(2, 64, 16, 16)).shape
        torch.Size([2, 128, 8, 8])
        >>> layer.fuse_channels  # max(128 / 16, 32)
        32
        >>> layer.attention_weights(torch.rand(2, 64, 16, 16)).shape
        torch.Size([2, 3, 128, 1, 1])
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int = 1,
        num_paths: int = 2,
        groups: int = 32,
        ratio: float = 16,
        min_channels: int = 32,
        dilation: int = 1,
        conv_cfg: Optional[dict] = None,
        norm_cfg: Optional[dict] = dict(type='BN'),
        act_cfg: dict = dict(type='ReLU', inplace=True),
        impl: str = 'fused',
        init_cfg: Optional[Union[dict, list]] = None,
    ) -> None:
        super().__init__(init_cfg)
        check_int('in_channels', in_channels, minimum=1)
        check_int('out_channels', out_channels, minimum=1)
        check_int('stride', stride, minimum=1)
        check_int('num_paths', num_paths, minimum=1)
        check_int('groups', groups, minimum=1)
        check_positive_number('ratio', ratio)
        check_int('min_channels', min_channels, minimum=1)
        check_int('dilation', dilation, minimum=1)
        check_divisible('in_channels', in_channels, 'groups', groups)
        check_divisible('out_channels', out_channels, 'groups', groups)
        conv_cfg = check_registered('conv_cfg', conv_cfg, kind='conv')
        norm_cfg = check_registered('norm_cfg', norm_cfg, kind='norm')
        act_cfg = check_act_cfg('act_cfg', act_cfg, HIDDEN_ACTIVATIONS)

        self.in_channels = in_channels
        self.out_channels = out_channels
        self.num_paths = num_paths
        self.groups = groups
        self.ratio = ratio
        self.min_channels = min_channels
        self.impl = check_choice('impl', impl, SK_IMPLS)
        # d = max(C / r, L) (paper, Sec. 3.1), C being this layer's output width
        self.fuse_channels = max(int(out_channels / ratio), min_channels)
        # the fuse norm sees a 1x1 map: with one channel per group it normalises one value
        gn = norm_cfg is not None and norm_cfg['type'] in ('GN', 'GroupNorm')
        if num_paths > 1 and gn and self.fuse_channels <= norm_cfg.get('num_groups', 1):
            raise ValueError(
                f'norm_cfg={norm_cfg}: the fuse layer normalises {self.fuse_channels} '
                'values per sample, so GroupNorm needs fewer groups than that; raise '
                'min_channels or lower num_groups'
            )

        self.paths = nn.ModuleList(
            ConvModule(
                in_channels,
                out_channels,
                3,
                stride=stride,
                padding=dilation * (i + 1),
                dilation=dilation * (i + 1),
                groups=groups,
                conv_cfg=conv_cfg,
                norm_cfg=norm_cfg,
                act_cfg=act_cfg,
            )
            for i in range(num_paths)
        )
        if num_paths == 1:  # softmax over one path is 1: nothing to select
            self.fuse = self.select = None
            return
        self.fuse = ConvModule(
            out_channels,
            self.fuse_channels,
            1,
            conv_cfg=conv_cfg,
            norm_cfg=norm_cfg,
            act_cfg=act_cfg,
        )
        self.select = build_conv_layer(
            conv_cfg, self.fuse_channels, num_paths * out_channels, 1, bias=False
        )

    def _path_weights(self, pooled: Tensor) -> Tensor:
        """Softmax weights ``(N, M, C)`` from the pooled ``(N, C)`` of ``U``."""
        fuse, select = self.fuse, self.select
        if (
            is_pointwise_linear(fuse.conv)
            and is_pointwise_linear(select)
            and tuple(fuse.order) == ('conv', 'norm', 'act')
            and not fuse.with_explicit_padding
            and fuse.efficient_conv_bn_eval_forward is None
        ):
            z = F.linear(pooled, fuse.conv.weight.flatten(1), fuse.conv.bias)
            if fuse.with_norm:
                z = fuse.norm(z[:, :, None, None]).flatten(1)
            if fuse.with_activation:
                z = fuse.activate(z)
            logits = F.linear(z, select.weight.flatten(1), select.bias)
        else:  # a custom conv or ConvModule setting: the modules as built
            logits = select(fuse(pooled[:, :, None, None])).flatten(1)
        return logits.view(pooled.shape[0], self.num_paths, -1).softmax(dim=1)

    def _select_weights(self, feats: list) -> Tensor:
        """Softmax weights ``(N, M, C, 1, 1)`` for the path outputs ``feats``."""
        n, c = feats[0].shape[:2]
        if self.select is None:
            return feats[0].new_ones(n, 1, c, 1, 1)
        if self.impl == 'fused':
            pooled = spatial_mean(feats[0])
            for feat in feats[1:]:
                pooled = pooled + spatial_mean(feat)
            return self._path_weights(pooled)[..., None, None]
        # global average pool of U = sum_m U_m, as the sum of the per-path
        # means (U itself is never materialised)
        s = feats[0].mean((2, 3), keepdim=True)
        for feat in feats[1:]:
            s = s + feat.mean((2, 3), keepdim=True)
        logits = self.select(self.fuse(s))
        return logits.view(n, self.num_paths, c, 1, 1).softmax(dim=1)

    def attention_weights(self, x: Tensor) -> Tensor:
        """The ``(N, M, C, 1, 1)`` path weights for input ``x`` (sum to 1 over M)."""
        return self._select_weights([run_path(path, x) for path in self.paths])

    def forward(self, x: Tensor) -> Tensor:
        if self.select is None:
            return self.paths[0](x)
        feats = [run_path(path, x) for path in self.paths]
        if self.impl == 'fused' and use_autograd_function(self, *feats):
            params = (*self.fuse.parameters(), *self.select.parameters())
            return FusedSelectiveSum.apply(self, *feats, *params)
        weights = self._select_weights(feats)
        # V = sum_m a_m * U_m accumulated in place of a stack: no (N, M, C, H, W)
        # copy of the paths, and autograd keeps no tensor beyond the U_m and a_m
        out = feats[0] * weights[:, 0]
        for m in range(1, self.num_paths):
            out.addcmul_(feats[m], weights[:, m])
        return out

    def extra_repr(self) -> str:
        return (
            f'num_paths={self.num_paths}, groups={self.groups}, ratio={self.ratio}, '
            f'min_channels={self.min_channels}, fuse_channels={self.fuse_channels}, '
            f'impl={self.impl!r}'
        )
