"""Selective Kernel convolution (Li et al., SKNet, arXiv 1903.06586)."""

from __future__ import annotations

from typing import Optional, Union

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule, build_conv_layer
from mmengine.model import BaseModule
from torch import Tensor

from se_plugin.checks import (
    HIDDEN_ACTIVATIONS,
    check_act_cfg,
    check_bool,
    check_choice,
    check_conv2d,
    check_conv_cfg,
    check_divisible,
    check_int,
    check_norm_cfg,
    check_positive_number,
    must,
)
from se_plugin.registry import MODELS

from .functional import full_precision, squeeze
from .fused import (
    FusedSelectiveSum,
    fused_function_allowed,
    plain_ops_required,
    run_path,
    selective_sum,
)

SK_IMPLS = ('fused', 'reference')
SK_SELECTS = ('attention', 'sum')


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

    With ``split_input=True`` path ``i`` reads only the ``i``-th of ``M``
    equal channel chunks of the input (timm's ``SelectiveKernel(split_input=
    True)``, in its ``skresnet18/34/50`` models): each path conv has ``M``
    times fewer input channels.

    With ``num_paths=1`` the softmax is constantly 1: the layer reduces to one
    grouped conv-norm-act (the ResNeXt 3x3 stage) and builds no fuse/select
    parameters. ``select='sum'`` keeps the M paths but replaces the selection
    by their plain sum ``V = sum_m U_m`` (no fuse/select parameters): the
    floor that times what the extra paths cost without the attention.

    In training mode the fuse norm (BN by default) sees one value per channel
    and sample, so feed at least two samples, as for any BN after a global
    pool.

    Args:
        in_channels (int): Channels of the input.
        out_channels (int): Channels of each path and of the output (C).
        stride (int): Stride of every path. Default: 1.
        num_paths (int): Number of paths M (kernels 3x3, 5x5, 7x7, ... as
            dilated 3x3 convs). Default: 2.
        groups (int): Groups of each path's 3x3 conv; must divide each
            path's input channels and ``out_channels``. Default: 32.
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
        select (str): ``'attention'`` (the paper's softmax selection) or
            ``'sum'`` (the paths summed, no attention). Default: 'attention'.
        split_input (bool): Path ``i`` reads the ``i``-th of ``num_paths``
            channel chunks of the input (``in_channels`` must be a multiple of
            ``num_paths``) instead of all of it. Default: False.
        impl (str): ``'fused'`` (the fuse/select MLP as ``linear`` on
            ``(N, C)`` and, in eager training,
            :class:`~se_plugin.models.layers.fused.FusedSelectiveSum`) or
            ``'reference'`` (plain autograd over the modules). Same function,
            same parameters, same module behaviour. Default: 'fused'.
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
        >>> split = SKConv(64, 64, groups=1, split_input=True)  # timm's skresnet
        >>> split.paths[1].conv.in_channels
        32
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
        select: str = 'attention',
        split_input: bool = False,
        impl: str = 'fused',
        init_cfg: Optional[Union[dict, list]] = None,
    ) -> None:
        super().__init__(init_cfg)
        in_channels = check_int('in_channels', in_channels, minimum=1)
        out_channels = check_int('out_channels', out_channels, minimum=1)
        stride = check_int('stride', stride, minimum=1)
        num_paths = check_int('num_paths', num_paths, minimum=1)
        groups = check_int('groups', groups, minimum=1)
        ratio = check_positive_number('ratio', ratio)
        min_channels = check_int('min_channels', min_channels, minimum=1)
        dilation = check_int('dilation', dilation, minimum=1)
        split_input = check_bool('split_input', split_input)
        path_in = in_channels
        if split_input:
            check_divisible('in_channels', in_channels, 'num_paths', num_paths)
            path_in = in_channels // num_paths
        check_divisible(
            'in_channels / num_paths' if split_input else 'in_channels', path_in, 'groups', groups
        )
        check_divisible('out_channels', out_channels, 'groups', groups)
        conv_cfg = check_conv_cfg('conv_cfg', conv_cfg)
        act_cfg = check_act_cfg('act_cfg', act_cfg, HIDDEN_ACTIVATIONS)

        self.in_channels = in_channels
        self.out_channels = out_channels
        self.num_paths = num_paths
        self.split_input = split_input
        self.groups = groups
        self.ratio = ratio
        self.min_channels = min_channels
        self.impl = check_choice('impl', impl, SK_IMPLS)
        self.select_mode = check_choice('select', select, SK_SELECTS)
        # d = max(C / r, L) (paper, Sec. 3.1), C being this layer's output width
        self.fuse_channels = max(int(out_channels / ratio), min_channels)
        selects = num_paths > 1 and self.select_mode == 'attention'
        widths = (out_channels, self.fuse_channels) if selects else (out_channels,)
        norm_cfg = check_norm_cfg('norm_cfg', norm_cfg, widths)
        # the fuse norm sees a 1x1 map: with one channel per group it normalises one value
        if selects and norm_cfg is not None and norm_cfg.get('num_groups', 0) >= widths[1]:
            raise ValueError(
                must(
                    "norm_cfg['num_groups']",
                    f'< {widths[1]}, the values per sample of the fuse layer (or raise '
                    'min_channels)',
                    norm_cfg['num_groups'],
                )
            )

        self.paths = nn.ModuleList(
            ConvModule(
                path_in,
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
        if num_paths == 1 or select == 'sum':  # nothing to select
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
        check_conv2d('conv_cfg', self.select, conv_cfg)

    def _path_weights(self, pooled: Tensor) -> Tensor:
        """Softmax weights ``(N, M, C)`` from the pooled ``(N, C)`` of ``U``.

        The fuse and select layers called as built, in the parameters' dtype,
        also under autocast (see :func:`full_precision`).
        """
        with full_precision(pooled):
            logits = self.select(self.fuse(pooled.to(self.select.weight.dtype)[:, :, None, None]))
            return logits.view(-1, self.num_paths, self.out_channels).softmax(dim=1)

    def _plain_ops(self, x: Tensor) -> bool:
        """The plain module calls: ``impl='reference'`` or what
        :func:`~se_plugin.models.layers.fused.autograd.plain_ops_required`
        says (hooks on a submodule the fast paths skip)."""
        return self.impl == 'reference' or plain_ops_required(x, *self.children())

    def _pooled(self, feats: list) -> Tensor:
        """Global average pool of ``U = sum_m U_m`` as ``(N, C)``, never building U."""
        pooled = squeeze(feats[0], 'avg')
        for feat in feats[1:]:
            pooled = pooled + squeeze(feat, 'avg')
        return pooled

    def reference_select(self, feats: list) -> Tensor:
        """``V = sum_m a_m U_m`` in the plain module calls (what the fast paths compute)."""
        weights = self._path_weights(self._pooled(feats)).to(feats[0].dtype)[..., None, None]
        out = feats[0] * weights[:, 0]
        for m in range(1, self.num_paths):
            out = out + feats[m] * weights[:, m]
        return out

    def path_inputs(self, x: Tensor) -> list:
        """What each path reads: ``x``, or its ``i``-th channel chunk with ``split_input``."""
        if self.split_input:
            return list(torch.split(x, self.in_channels // self.num_paths, dim=1))
        return [x] * self.num_paths

    def attention_weights(self, x: Tensor) -> Tensor:
        """The ``(N, M, C, 1, 1)`` path weights for input ``x`` (sum to 1 over M)."""
        feats = [path(xi) for path, xi in zip(self.paths, self.path_inputs(x))]
        n, c = feats[0].shape[:2]
        if self.select is None:
            return feats[0].new_full((n, self.num_paths, c, 1, 1), 1.0 / self.num_paths)
        return self._path_weights(self._pooled(feats)).to(feats[0].dtype)[..., None, None]

    def forward(self, x: Tensor) -> Tensor:
        reference = self._plain_ops(x)
        feats = [
            run_path(path, xi, fast=not reference)
            for path, xi in zip(self.paths, self.path_inputs(x))
        ]
        if self.select is None:  # one path, or select='sum'
            out = feats[0]
            for feat in feats[1:]:
                out = out + feat
            return out
        if reference:
            return self.reference_select(feats)
        if fused_function_allowed((*self.fuse.parameters(), *self.select.parameters()), *feats):
            params = (*self.fuse.parameters(), *self.select.parameters())
            return FusedSelectiveSum.apply(self, *feats, *params)
        return selective_sum(feats, self._path_weights(self._pooled(feats)))

    def extra_repr(self) -> str:
        return (
            f'num_paths={self.num_paths}, groups={self.groups}, ratio={self.ratio}, '
            f'min_channels={self.min_channels}, fuse_channels={self.fuse_channels}, '
            f'select={self.select_mode!r}, split_input={self.split_input}, impl={self.impl!r}'
        )
