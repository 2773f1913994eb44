"""ResNet-family residual blocks with one attention slot.

The residual logic (shortcut, drop path, gradient checkpointing, final
activation) lives once, in :class:`AttentionSlotMixin.forward`. The blocks only
describe their residual branch; the attention module built from ``se_cfg`` is
applied by :meth:`AttentionSlotMixin._attend` at exactly one of the positions
of SENet Tables 14-15:

============== ===============================================================
position       where the attention module sits
============== ===============================================================
``standard``   end of the residual branch, before the addition (SE block)
``pre``        start of the residual branch, before its first conv (SE-PRE)
``post``       after the addition and the final activation (SE-POST)
``identity``   on the shortcut, in parallel with the branch (SE-Identity)
``after_conv2``after the 3x3 conv (and its norm/activation) of a bottleneck
               (SE_3x3 of Table 15)
============== ===============================================================

Any registered module that keeps the shape of its ``in_channels``-channel input
fits the slot (``SELayer``, or your own).

Speed path: at ``standard`` with no drop path, the block asks the module
once, when it is built, how it takes the branch (its ``fusion_with(norm)``
method; modules without one are called plainly). ``'norm'`` (the fused
``SELayer``): the block calls ``se.forward_after_norm(z, last_norm, identity)``
with the branch before its last norm, which returns
``se(last_norm(z)) + identity`` with the norm folded in where that keeps the
module semantics (see :mod:`se_plugin.models.layers.fused`).

Gradient checkpointing (``with_cp=True``) recomputes the block's forward once
in the backward; the recomputation leaves the batch-norm running statistics
as the forward left them, so they match ``with_cp=False``.
"""

from __future__ import annotations

import contextlib
from typing import Optional

import torch
import torch.nn as nn
import torch.utils.checkpoint as cp
from mmcv.cnn import build_activation_layer, build_conv_layer, build_norm_layer
from mmcv.cnn.bricks import DropPath
from mmengine.model import BaseModule
from mmpretrain.models.backbones.resnet import BasicBlock as _BasicBlock
from mmpretrain.models.backbones.resnet import eps
from mmpretrain.models.backbones.resnext import Bottleneck as _GroupedBottleneck
from torch import Tensor
from torch.nn.modules.batchnorm import _BatchNorm

from se_plugin.checks import (
    check_choice,
    check_divisible,
    check_fraction,
    check_int,
    check_registered,
)
from se_plugin.registry import MODELS

SE_POSITIONS = ('standard', 'pre', 'post', 'identity', 'after_conv2')


def check_block_args(in_channels, out_channels, kwargs: dict, expansion: int) -> None:
    """Clear errors for the arguments mmpretrain's blocks assert on or crash with.

    Also refuses a block whose shortcut cannot be added to its output
    (``stride != 1`` or ``in_channels != out_channels`` without a
    ``downsample``), which would otherwise fail at the first forward pass.
    """
    check_int('in_channels', in_channels, minimum=1)
    check_int('out_channels', out_channels, minimum=1)
    check_int('expansion', expansion, minimum=1)
    check_divisible('out_channels', out_channels, 'expansion', expansion)
    stride = check_int('stride', kwargs.get('stride', 1), minimum=1)
    check_int('dilation', kwargs.get('dilation', 1), minimum=1)
    check_choice('style', kwargs.get('style', 'pytorch'), ('pytorch', 'caffe'))
    check_fraction('drop_path_rate', kwargs.get('drop_path_rate', 0.0))
    if kwargs.get('downsample') is None and (stride != 1 or in_channels != out_channels):
        raise ValueError(
            f'a block with stride={stride}, in_channels={in_channels} and '
            f'out_channels={out_channels} needs a downsample module for its shortcut'
        )


@contextlib.contextmanager
def running_statistics_kept(module: nn.Module):
    """Restore the batch-norm buffers of ``module`` on exit (a checkpoint's recomputation).

    The recomputed forward would update the running statistics a second time.
    """
    buffers = [
        buf
        for norm in module.modules()
        if isinstance(norm, _BatchNorm)
        for buf in (norm.running_mean, norm.running_var, norm.num_batches_tracked)
        if buf is not None
    ]
    saved = [buf.clone() for buf in buffers]
    try:
        yield
    finally:
        with torch.no_grad():
            for buf, value in zip(buffers, saved):
                buf.copy_(value)


class AttentionSlotMixin:
    """The residual forward shared by all blocks, with one attention slot.

    A subclass provides ``_branch_before_last_norm(x)`` (its residual branch
    up to its last conv) and ``last_norm``, and calls
    :meth:`_build_attention` at the end of its ``__init__``.
    """

    se_positions: tuple = SE_POSITIONS

    def _build_attention(self, se_cfg: Optional[dict], se_position: str) -> None:
        se_cfg = check_registered('se_cfg', se_cfg, MODELS, 'attention')
        self.se_position = check_choice('se_position', se_position, self.se_positions)
        channels = {
            'standard': self.out_channels,
            'post': self.out_channels,
            'identity': self.out_channels,
            'pre': self.in_channels,
            'after_conv2': self.mid_channels,
        }[se_position]
        self.se = None if se_cfg is None else MODELS.build(dict(se_cfg, in_channels=channels))
        # how the module takes the branch, asked once ('norm': forward_after_norm)
        fusion_with = getattr(self.se, 'fusion_with', None)
        plain_sum = se_position != 'standard' or not isinstance(self.drop_path, nn.Identity)
        self.se_fusion = 'none' if fusion_with is None or plain_sum else fusion_with(self.last_norm)
        check_choice('se_fusion', self.se_fusion, ('none', 'norm'))

    def _attend(self, position: str, x: Tensor) -> Tensor:
        """Apply the attention module if ``position`` is the configured one."""
        if self.se is not None and position == self.se_position:
            return self.se(x)
        return x

    def _residual_branch(self, x: Tensor) -> Tensor:
        return self.last_norm(self._branch_before_last_norm(x))

    def _inner_forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        x = self._attend('pre', x)
        if self.se_fusion == 'norm':  # se(norm(z)) + identity, the norm folded in
            z = self._branch_before_last_norm(x)
            return self.se.forward_after_norm(z, self.last_norm, identity)
        out = self.drop_path(self._attend('standard', self._residual_branch(x)))
        out += self._attend('identity', identity)
        return out

    def _checkpoint_contexts(self) -> tuple:
        return contextlib.nullcontext(), running_statistics_kept(self)

    def forward(self, x: Tensor) -> Tensor:
        if self.with_cp and x.requires_grad:
            out = cp.checkpoint(
                self._inner_forward,
                x,
                use_reentrant=False,
                context_fn=self._checkpoint_contexts,
            )
        else:
            out = self._inner_forward(x)
        return self._attend('post', self.relu(out))


@MODELS.register_module()
class SEBasicBlock(AttentionSlotMixin, _BasicBlock):
    """ResNet basic block (two 3x3 convs) with an attention slot.

    Args:
        in_channels (int): Input channels of this block.
        out_channels (int): Output channels of this block.
        se_cfg (dict, optional): Config of the attention module, built with
            ``in_channels`` set to the channels at ``se_position``. None gives
            a plain ResNet block. Default: dict(type='se_plugin.SELayer', ratio=16).
        se_position (str): Where the attention module sits: ``'standard'``,
            ``'pre'``, ``'post'`` or ``'identity'`` (``'after_conv2'`` is the
            same point as ``'standard'`` in a basic block and is refused).
            Default: 'standard'.
        **kwargs: The arguments of mmpretrain's ``BasicBlock`` (``expansion``,
            ``stride``, ``dilation``, ``downsample``, ``style``, ``with_cp``,
            ``conv_cfg``, ``norm_cfg``, ``act_cfg``, ``drop_path_rate``,
            ``init_cfg``).

    Example:
        >>> import torch
        >>> from se_plugin.models import SEBasicBlock
        >>> block = SEBasicBlock(64, 64, se_cfg=dict(type='se_plugin.SELayer', ratio=4))
        >>> block(torch.rand(1, 64, 8, 8)).shape
        torch.Size([1, 64, 8, 8])
    """

    se_positions = ('standard', 'pre', 'post', 'identity')

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        se_cfg: Optional[dict] = dict(type='se_plugin.SELayer', ratio=16),
        se_position: str = 'standard',
        **kwargs,
    ) -> None:
        expansion = kwargs.get('expansion', 1)
        check_block_args(in_channels, out_channels, kwargs, expansion)
        if expansion != 1:
            raise ValueError(f'a basic block has expansion 1, got expansion={expansion}')
        super().__init__(in_channels, out_channels, **kwargs)
        self._build_attention(se_cfg, se_position)

    @property
    def last_norm(self) -> nn.Module:
        return self.norm2

    def _branch_before_last_norm(self, x: Tensor) -> Tensor:
        return self.conv2(self.relu(self.norm1(self.conv1(x))))


@MODELS.register_module()
class SEBottleneck(AttentionSlotMixin, _GroupedBottleneck):
    """ResNet / ResNeXt bottleneck (1x1, 3x3, 1x1) with an attention slot.

    With ``groups=1`` this is the ResNet bottleneck (SE-ResNet); with
    ``groups > 1`` the 3x3 conv is grouped and the width is
    ``groups * width_per_group`` at the first stage (SE-ResNeXt).

    Args:
        in_channels (int): Input channels of this block.
        out_channels (int): Output channels of this block.
        se_cfg (dict, optional): Config of the attention module, built with
            ``in_channels`` set to the channels at ``se_position``. None gives
            a plain ResNet/ResNeXt block.
            Default: dict(type='se_plugin.SELayer', ratio=16).
        se_position (str): One of ``SE_POSITIONS``: ``'standard'``, ``'pre'``,
            ``'post'``, ``'identity'``, ``'after_conv2'``. Default: 'standard'.
        groups (int): Groups of the 3x3 conv. Default: 1.
        width_per_group (int): Width of each group of the 3x3 conv at the
            first stage (used when ``groups > 1``). Default: 4.
        base_channels (int): Middle channels of the first stage, to scale
            ``width_per_group`` to later stages. Default: 64.
        **kwargs: The arguments of mmpretrain's ``Bottleneck`` (``expansion``,
            ``stride``, ``dilation``, ``downsample``, ``style``, ``with_cp``,
            ``conv_cfg``, ``norm_cfg``, ``act_cfg``, ``drop_path_rate``,
            ``init_cfg``).

    Example:
        >>> import torch
        >>> from se_plugin.models import SEBottleneck
        >>> block = SEBottleneck(256, 256, groups=4, width_per_group=4,
        ...                      se_position='after_conv2')
        >>> block.mid_channels, block.se.in_channels
        (16, 16)
        >>> block(torch.rand(1, 256, 8, 8)).shape
        torch.Size([1, 256, 8, 8])
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        se_cfg: Optional[dict] = dict(type='se_plugin.SELayer', ratio=16),
        se_position: str = 'standard',
        groups: int = 1,
        width_per_group: int = 4,
        base_channels: int = 64,
        **kwargs,
    ) -> None:
        check_int('groups', groups, minimum=1)
        check_int('width_per_group', width_per_group, minimum=1)
        check_int('base_channels', base_channels, minimum=1)
        expansion = kwargs.get('expansion', 4)
        check_block_args(in_channels, out_channels, kwargs, expansion)
        if groups > 1 and (out_channels // expansion) % base_channels:
            raise ValueError(
                f'a grouped bottleneck needs out_channels / expansion to be a multiple of '
                f'base_channels={base_channels}; got out_channels={out_channels}, '
                f'expansion={expansion}'
            )
        self._build_layers(
            in_channels, out_channels, groups, width_per_group, base_channels, **kwargs
        )
        self._build_attention(se_cfg, se_position)

    def _build_layers(
        self,
        in_channels: int,
        out_channels: int,
        groups: int,
        width_per_group: int,
        base_channels: int,
        expansion: int = 4,
        stride: int = 1,
        dilation: int = 1,
        downsample: Optional[nn.Module] = None,
        style: str = 'pytorch',
        with_cp: bool = False,
        conv_cfg: Optional[dict] = None,
        norm_cfg: dict = dict(type='BN'),
        act_cfg: dict = dict(type='ReLU', inplace=True),
        drop_path_rate: float = 0.0,
        init_cfg: Optional[dict] = None,
    ) -> None:
        """mmpretrain's (ResNeXt) ``Bottleneck.__init__``, the 3x3 stage built by ``_make_conv2``.

        The same attributes, modules, names and order as mmpretrain's (so the
        state-dict keys are mmpretrain's); its ``__init__`` is not called
        because it builds ``conv2``/``norm2`` inline.
        """
        BaseModule.__init__(self, init_cfg=init_cfg)
        self.in_channels, self.out_channels, self.expansion = in_channels, out_channels, expansion
        self.mid_channels = out_channels // expansion
        if groups != 1:  # ResNeXt: the width follows the groups and the stage
            self.mid_channels = groups * width_per_group * self.mid_channels // base_channels
        self.groups, self.width_per_group = groups, width_per_group
        self.stride, self.dilation, self.style, self.with_cp = stride, dilation, style, with_cp
        self.conv_cfg, self.norm_cfg = conv_cfg, norm_cfg
        self.conv1_stride, self.conv2_stride = (1, stride) if style == 'pytorch' else (stride, 1)
        self.conv1 = build_conv_layer(
            conv_cfg, in_channels, self.mid_channels, 1, stride=self.conv1_stride, bias=False
        )
        self.norm1_name, norm1 = build_norm_layer(norm_cfg, self.mid_channels, postfix=1)
        self.add_module(self.norm1_name, norm1)
        self._make_conv2(act_cfg)
        self.conv3 = build_conv_layer(conv_cfg, self.mid_channels, out_channels, 1, bias=False)
        self.norm3_name, norm3 = build_norm_layer(norm_cfg, out_channels, postfix=3)
        self.add_module(self.norm3_name, norm3)
        self.relu = build_activation_layer(act_cfg)
        self.downsample = downsample
        self.drop_path = DropPath(drop_path_rate) if drop_path_rate > eps else nn.Identity()

    def _make_conv2(self, act_cfg: dict) -> None:
        """Build the 3x3 stage: ``conv2`` (grouped 3x3) and ``norm2`` (SKBlock: an SKConv)."""
        self.conv2 = build_conv_layer(
            self.conv_cfg,
            self.mid_channels,
            self.mid_channels,
            kernel_size=3,
            stride=self.conv2_stride,
            padding=self.dilation,
            dilation=self.dilation,
            groups=self.groups,
            bias=False,
        )
        self.norm2_name, norm2 = build_norm_layer(self.norm_cfg, self.mid_channels, postfix=2)
        self.add_module(self.norm2_name, norm2)

    def _conv2_block(self, x: Tensor) -> Tensor:
        """The 3x3 stage of the branch (SKBlock's is its SKConv alone)."""
        return self.relu(self.norm2(self.conv2(x)))

    @property
    def last_norm(self) -> nn.Module:
        return self.norm3

    def _branch_before_last_norm(self, x: Tensor) -> Tensor:
        out = self.relu(self.norm1(self.conv1(x)))
        return self.conv3(self._attend('after_conv2', self._conv2_block(out)))
