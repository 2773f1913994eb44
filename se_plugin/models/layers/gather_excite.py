"""Gather-Excite (Hu, Shen, Albanie, Sun, Vedaldi, NeurIPS 2018, arXiv 1810.12348).

Gather: aggregate each channel over a large spatial extent (the whole map, or
windows of ``extent`` times the stride). Excite: bring the gathered map back to
the input's resolution (nearest neighbour), gate it, and multiply the input.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Optional, Union

import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from torch import Tensor, nn

from se_plugin.checks import (
    HIDDEN_ACTIVATIONS,
    check_act_cfg,
    check_choice,
    check_int,
    check_norm_cfg,
    check_squeeze_width,
    must,
)
from se_plugin.models.layers.activation import build_activation
from se_plugin.registry import MODELS

from .base import AttentionModule
from .functional import squeeze

GE_VARIANTS = ('theta-minus', 'theta', 'theta-plus')
GE_EXTENTS = (0, 2, 4, 8)


def _check_feat_size(feat_size, variant: str, extent: int) -> Optional[tuple]:
    """The ``(H, W)`` of the global depthwise gather, required by it and refused elsewhere."""
    needed = extent == 0 and variant != 'theta-minus'
    if not needed:
        if feat_size is not None:
            raise ValueError(
                must(
                    'feat_size',
                    'None unless the global gather has parameters (extent=0, variant '
                    f"'theta' or 'theta-plus'; here variant={variant!r}, extent={extent})",
                    feat_size,
                )
            )
        return None
    if feat_size is None:
        raise ValueError(
            must(
                'feat_size',
                f'the (H, W) of the input: variant={variant!r} with extent=0 gathers with a '
                'depthwise conv over the whole map (or use extent 2, 4 or 8)',
                feat_size,
            )
        )
    if isinstance(feat_size, numbers.Integral) and not isinstance(feat_size, bool):
        feat_size = (feat_size, feat_size)
    if not isinstance(feat_size, (list, tuple)):
        raise TypeError(must('feat_size', 'an int or (H, W)', feat_size))
    if len(feat_size) != 2:
        raise ValueError(must('feat_size', 'an int or (H, W)', feat_size))
    return tuple(check_int(f'feat_size[{i}]', v, minimum=1) for i, v in enumerate(feat_size))


@MODELS.register_module()
class GatherExcite(AttentionModule):
    """Gather-Excite attention.

    The paper's three variants:

    - ``'theta-minus'`` (GE-θ⁻, parameter-free): average pooling, over the
      whole map (``extent=0``) or over windows of ``2 * extent - 1`` with
      stride ``extent`` (padding ``extent - 1``, padded positions not
      counted, as timm), then ``sigmoid``.
    - ``'theta'`` (GE-θ): a depthwise gather: ``log2(extent)`` depthwise 3x3
      convs of stride 2 (no bias), each followed by the norm, with the
      activation between them; with ``extent=0`` one depthwise conv whose
      kernel is the whole map (``feat_size``) and the norm. Then ``sigmoid``.
    - ``'theta-plus'`` (GE-θ⁺): GE-θ followed by SE's excitation MLP (two
      1x1 convs ``C -> C / ratio -> C`` with biases and the activation
      between) before the ``sigmoid``.

    The gated map is brought back to ``(H, W)`` by nearest-neighbour
    interpolation and multiplies the input. The global gather with parameters
    needs the map size when it is built (``feat_size``), so in a backbone
    whose stages differ in size it fits one stage; extents 2, 4 and 8 fit
    any size.

    timm's ``GatherExcite(C, extra_params, use_mlp, extent)``: ``'theta-minus'``
    is ``extra_params=False, use_mlp=False``; ``'theta'`` is
    ``extra_params=True, use_mlp=False``; ``'theta-plus'`` is
    ``extra_params=True, use_mlp=True`` (timm's ``geresnet50t`` uses it with
    ``extent=8``). timm's default ``extra_params=False, use_mlp=True`` is no
    variant of the paper (at ``extent=0`` it is SE: use :class:`SELayer`).
    With ``extra_params=True, extent=0`` timm pads its ``feat_size`` depthwise
    conv to 'same' size, so each position gathers its own window; here the
    conv covers the map once (no padding, a ``1 x 1`` gather), as in the paper
    and in the GE layer of SRM's authors' code. (timm 1.0.31's
    ``extra_params=True`` and ``use_mlp=True`` also fail to build: it passes
    ``*dd`` positionally.)
    Module names follow timm (``gather.conv1``, ``gather.norm1``, ...;
    ``fc1``/``fc2`` are timm's ``mlp.fc1``/``mlp.fc2``).

    Args:
        in_channels (int): Channels of the input (and output).
        variant (str): ``'theta-minus'``, ``'theta'`` or ``'theta-plus'``.
            Default: 'theta-plus'.
        extent (int): Extent ratio of the gather: 0 (global), 2, 4 or 8.
            Default: 8.
        feat_size (int | tuple[int, int], optional): ``(H, W)`` of the
            input, needed (only) by ``'theta'``/``'theta-plus'`` with
            ``extent=0``. Default: None.
        ratio (float): Reduction ratio of ``'theta-plus'``'s MLP; the hidden
            width is ``make_divisible(in_channels / ratio, divisor)``.
            Default: 16.
        divisor (int): The MLP's hidden width is a multiple of this (timm: 1).
            Default: 1.
        norm_cfg (dict, optional): Norm after each depthwise conv (mmcv
            ``build_norm_layer``); None for none. Default: dict(type='BN').
        act_cfg (dict): Activation between the depthwise convs and inside the
            MLP, one of ``HIDDEN_ACTIVATIONS``. Default: dict(type='ReLU').
        impl (str): ``'recompute'`` (in a residual block, the block's last
            norm and this module are recomputed in the backward, see
            :class:`~se_plugin.models.layers.base.AttentionModule`) or
            ``'reference'`` (plain autograd). The same function either way.
            Default: 'recompute'.
        init_cfg (dict | list[dict], optional): Initialization config.
            Default: None.

    Example:
        >>> import torch
        >>> from se_plugin.models import GatherExcite
        >>> layer = GatherExcite(64, variant='theta', extent=4)
        >>> [name for name, _ in layer.gather.named_children()]
        ['conv1', 'norm1', 'act1', 'conv2', 'norm2']
        >>> layer(torch.rand(2, 64, 7, 7)).shape
        torch.Size([2, 64, 7, 7])
        >>> sum(p.numel() for p in GatherExcite(64, 'theta-minus').parameters())
        0
    """

    def __init__(
        self,
        in_channels: int,
        variant: str = 'theta-plus',
        extent: int = 8,
        feat_size: Optional[Union[int, Sequence[int]]] = None,
        ratio: float = 16,
        divisor: int = 1,
        norm_cfg: Optional[dict] = dict(type='BN'),
        act_cfg: dict = dict(type='ReLU'),
        impl: str = 'recompute',
        init_cfg: Optional[Union[dict, list]] = None,
    ) -> None:
        super().__init__(in_channels, impl, init_cfg)
        self.variant = check_choice('variant', variant, GE_VARIANTS)
        self.extent = check_choice('extent', extent, GE_EXTENTS)
        self.feat_size = _check_feat_size(feat_size, variant, self.extent)
        act_cfg = check_act_cfg('act_cfg', act_cfg, HIDDEN_ACTIVATIONS)
        self.gather = None
        if variant != 'theta-minus':
            norm_cfg = check_norm_cfg('norm_cfg', norm_cfg, channels=(self.in_channels,))
            self.gather = self._depthwise_gather(norm_cfg, act_cfg)
        self.fc1 = self.act = self.fc2 = None
        if variant == 'theta-plus':
            hidden = check_squeeze_width(self.in_channels, ratio, None, divisor)
            self.fc1 = nn.Conv2d(self.in_channels, hidden, 1)
            self.act = build_activation(act_cfg)
            self.fc2 = nn.Conv2d(hidden, self.in_channels, 1)
        self.gate = nn.Sigmoid()

    def _depthwise_gather(self, norm_cfg: Optional[dict], act_cfg: dict) -> nn.Sequential:
        channels = self.in_channels
        gather = nn.Sequential()
        if self.extent == 0:
            convs = [dict(kernel_size=self.feat_size, stride=1, padding=0)]
        else:
            convs = [dict(kernel_size=3, stride=2, padding=1)] * int(math.log2(self.extent))
        for i, conv in enumerate(convs, 1):
            gather.add_module(
                f'conv{i}', nn.Conv2d(channels, channels, groups=channels, bias=False, **conv)
            )
            if norm_cfg is not None:
                gather.add_module(f'norm{i}', build_norm_layer(norm_cfg, channels)[1])
            if i < len(convs):
                gather.add_module(f'act{i}', build_activation(act_cfg))
        return gather

    def gathered(self, x: Tensor) -> Tensor:
        """The gather's ``(N, C, h, w)`` output (``h = w = 1`` for the global extent)."""
        self._check_input(x)
        if self.gather is not None:
            if self.feat_size is not None and tuple(x.shape[2:]) != self.feat_size:
                raise ValueError(
                    f'GatherExcite({self.in_channels}) was built for feat_size='
                    f'{self.feat_size} (global depthwise gather), got an input of '
                    f'size {tuple(x.shape[2:])}'
                )
            return self.gather(x)
        if self.extent == 0:
            return squeeze(x, 'avg').to(x.dtype)[:, :, None, None]
        kernel = 2 * self.extent - 1
        return F.avg_pool2d(
            x, kernel, stride=self.extent, padding=self.extent - 1, count_include_pad=False
        )

    def excitation(self, x: Tensor) -> Tensor:
        """The gate at the input's resolution: ``(N, C, H, W)``, or ``(N, C, 1, 1)`` if global."""
        weight = self.gathered(x)
        if self.fc1 is not None:
            weight = self.fc2(self.act(self.fc1(weight)))
        weight = self.gate(weight)
        if self.extent != 0:  # decided when built, not by the size: an export takes any size
            weight = F.interpolate(weight, size=x.shape[2:], mode='nearest')
        return weight

    def forward(self, x: Tensor) -> Tensor:
        """``x * excitation(x)``."""
        return x * self.excitation(x)

    def extra_repr(self) -> str:
        return f'variant={self.variant!r}, extent={self.extent}'
