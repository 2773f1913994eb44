"""ResNet-family residual blocks with one attention slot.

The residual logic (shortcut, drop path, gradient checkpointing, final
activation) lives once, in :class:`AttentionSlotMixin.forward`. The blocks only
describe their residual branch; the attention module built from ``attn_cfg``
sits at exactly one of the positions of SENet Tables 14-15:

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
fits the slot (``SELayer``, or your own). The block fills in ``in_channels``; one
given in ``attn_cfg`` must equal it (:func:`~se_plugin.checks.check_slot_channels`,
the rule of every backbone and of :func:`~se_plugin.models.inject_attention`).
At ``standard`` the block hands the module its branch before the last norm, through
:func:`~se_plugin.models.layers.attend_after_norm` (the slot's contract,
:mod:`se_plugin.models.layers.base`): ``module(last_norm(z)) + shortcut``, which
an :class:`~se_plugin.models.layers.AttentionModule` may compute with the norm
folded into a fused Function or recomputed in the backward.

Gradient checkpointing (``with_cp=True``) recomputes the block's forward once
in the backward (the slot module then does not recompute on its own); the
recomputation leaves the batch-norm running statistics as the forward left
them, so they match ``with_cp=False``.

The slot's module is the ``attn`` attribute; checkpoints whose keys name it
``se`` (``layer1.0.se.fc1.weight``) load as they are.
"""

from __future__ import annotations

from typing import Optional

import torch.nn as nn
import torch.utils.checkpoint as cp
from mmcv.cnn import build_activation_layer, build_conv_layer, build_norm_layer
from mmcv.cnn.bricks import DropPath
from mmengine.model import BaseModule
from mmpretrain.models.backbones.resnet import BasicBlock as _BasicBlock
from mmpretrain.models.backbones.resnet import eps
from mmpretrain.models.backbones.resnext import Bottleneck as _GroupedBottleneck
from torch import Tensor

from se_plugin.checks import (
    check_act_cfg,
    check_bool,
    check_choice,
    check_conv_cfg,
    check_divisible,
    check_fraction,
    check_int,
    check_norm_cfg,
    check_registered,
    check_slot_channels,
    must,
)
from se_plugin.models.layers import attend_after_norm
from se_plugin.models.layers.anti_alias import build_anti_alias
from se_plugin.models.layers.recompute import block_checkpoint_contexts
from se_plugin.registry import MODELS

from .base import accepts_se_names

ATTN_POSITIONS = ('standard', 'pre', 'post', 'identity', 'after_conv2')


def check_block_args(in_channels, out_channels, kwargs: dict, expansion: int) -> tuple:
    """Clear errors for the arguments mmpretrain's blocks assert on or crash with.

    Returns ``(in_channels, out_channels, kwargs)`` with the values checked
    and normalised (``expansion`` included); ``norm_cfg`` is left to the
    block, which knows the widths it builds norms for. Also refuses a block
    whose shortcut cannot be added to its output (``stride != 1`` or
    ``in_channels != out_channels`` without a ``downsample``), which would
    otherwise fail at the first forward pass.
    """
    in_channels = check_int('in_channels', in_channels, minimum=1)
    out_channels = check_int('out_channels', out_channels, minimum=1)
    kwargs = dict(kwargs, expansion=check_int('expansion', expansion, minimum=1))
    check_divisible('out_channels', out_channels, 'expansion', kwargs['expansion'])
    stride = kwargs['stride'] = check_int('stride', kwargs.get('stride', 1), minimum=1)
    kwargs['dilation'] = check_int('dilation', kwargs.get('dilation', 1), minimum=1)
    kwargs['style'] = check_choice('style', kwargs.get('style', 'pytorch'), ('pytorch', 'caffe'))
    kwargs['with_cp'] = check_bool('with_cp', kwargs.get('with_cp', False))
    kwargs['drop_path_rate'] = check_fraction('drop_path_rate', kwargs.get('drop_path_rate', 0.0))
    kwargs['conv_cfg'] = check_conv_cfg('conv_cfg', kwargs.get('conv_cfg'))
    if 'act_cfg' in kwargs:
        kwargs['act_cfg'] = check_act_cfg('act_cfg', kwargs['act_cfg'])
    downsample = kwargs.get('downsample')
    if downsample is not None and not isinstance(downsample, nn.Module):
        raise TypeError(must('downsample', 'None or an nn.Module', downsample))
    if downsample is None and (stride != 1 or in_channels != out_channels):
        raise ValueError(
            f'a block with stride={stride}, in_channels={in_channels} and '
            f'out_channels={out_channels} needs a downsample module for its shortcut'
        )
    return in_channels, out_channels, kwargs


def _load_se_keys(module, state_dict, prefix, *args) -> None:
    """Load-state-dict pre-hook: a checkpoint's ``<block>.se.*`` keys are ``<block>.attn.*``."""
    old = prefix + 'se.'
    for key in [k for k in state_dict if k.startswith(old)]:
        state_dict[prefix + 'attn.' + key[len(old) :]] = state_dict.pop(key)


class AttentionSlotMixin:
    """The residual forward shared by all blocks, with one attention slot.

    A subclass provides ``_branch_before_last_norm(x)`` (its residual branch
    up to its last conv) and ``last_norm``, and calls
    :meth:`_build_attention` at the end of its ``__init__``.
    """

    attn_positions: tuple = ATTN_POSITIONS

    def _build_attention(self, attn_cfg: Optional[dict], attn_position: str) -> None:
        attn_cfg = check_registered('attn_cfg', attn_cfg, MODELS, 'attention')
        self.attn_position = check_choice('attn_position', attn_position, self.attn_positions)
        channels = {
            'standard': self.out_channels,
            'post': self.out_channels,
            'identity': self.out_channels,
            'pre': self.in_channels,
            'after_conv2': self.mid_channels,
        }[self.attn_position]
        where = f'the channels at attn_position={self.attn_position!r}'
        self.attn = (
            None
            if attn_cfg is None
            else MODELS.build(check_slot_channels('attn_cfg', attn_cfg, channels, where))
        )
        self.register_load_state_dict_pre_hook(_load_se_keys)

    def _attend(self, position: str, x: Tensor) -> Tensor:
        """Apply the attention module if ``position`` is the configured one."""
        if self.attn is not None and position == self.attn_position:
            return self.attn(x)
        return x

    def _inner_forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        x = self._attend('pre', x)
        z = self._branch_before_last_norm(x)
        slot = self.attn if self.attn_position == 'standard' else None
        if isinstance(self.drop_path, nn.Identity) and self.attn_position != 'identity':
            return attend_after_norm(slot, z, self.last_norm, identity)  # one pass
        out = self.drop_path(attend_after_norm(slot, z, self.last_norm))
        out += self._attend('identity', identity)
        return out

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

    def _checkpoint_contexts(self) -> tuple:
        return block_checkpoint_contexts(self)


def check_reduce_first(reduce_first, width: int) -> tuple:
    """``(reduce_first, width // reduce_first)``: the width of a block's first conv.

    ``reduce_first`` (timm's ``block_reduce_first``; SENet-154's is 2) divides
    the width of a block's first conv, which must be a multiple of it.
    """
    reduce_first = check_int('reduce_first', reduce_first, minimum=1)
    check_divisible('the block width', width, 'reduce_first', reduce_first)
    return reduce_first, width // reduce_first


@MODELS.register_module()
class SEBasicBlock(AttentionSlotMixin, _BasicBlock):
    """ResNet basic block (two 3x3 convs) with an attention slot.

    mmpretrain's ``BasicBlock`` (its modules, names and state-dict keys), with
    timm's two options: ``reduce_first`` and ``anti_alias``. The first 3x3
    stage is built by ``_make_conv1`` (:class:`SKBasicBlock`: an SKConv).

    Args:
        in_channels (int): Input channels of this block.
        out_channels (int): Output channels of this block.
        attn_cfg (dict, optional): Config of the attention module, built with
            ``in_channels`` set to the channels at ``attn_position``. None
            gives a plain ResNet block. ``se_cfg`` is a deprecated alias.
            Default: dict(type='se_plugin.SELayer', ratio=16).
        attn_position (str): Where the attention module sits: ``'standard'``,
            ``'pre'``, ``'post'`` or ``'identity'`` (``'after_conv2'`` is the
            same point as ``'standard'`` in a basic block and is refused).
            ``se_position`` is a deprecated alias. Default: 'standard'.
        reduce_first (int): The first conv outputs ``out_channels //
            reduce_first`` channels (timm's ``block_reduce_first``).
            Default: 1.
        anti_alias (str, optional): ``'avg'``: a stride-2 block runs its first
            conv at stride 1 and average-pools 2x2 after its activation
            (:func:`~se_plugin.models.layers.anti_alias.build_anti_alias`).
            Default: None.
        **kwargs: The arguments of mmpretrain's ``BasicBlock`` (``expansion``,
            ``stride``, ``dilation``, ``downsample``, ``style``, ``with_cp``,
            ``conv_cfg``, ``norm_cfg``, ``act_cfg``, ``drop_path_rate``,
            ``init_cfg``).

    Example:
        >>> import torch
        >>> from se_plugin.models import SEBasicBlock
        >>> block = SEBasicBlock(64, 64, attn_cfg=dict(type='se_plugin.SELayer', ratio=4))
        >>> block(torch.rand(1, 64, 8, 8)).shape
        torch.Size([1, 64, 8, 8])
    """

    attn_positions = ('standard', 'pre', 'post', 'identity')

    @accepts_se_names
    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        attn_cfg: Optional[dict] = dict(type='se_plugin.SELayer', ratio=16),
        attn_position: str = 'standard',
        reduce_first: int = 1,
        anti_alias: Optional[str] = None,
        **kwargs,
    ) -> None:
        in_channels, out_channels, kwargs = check_block_args(
            in_channels, out_channels, kwargs, kwargs.get('expansion', 1)
        )
        if kwargs['expansion'] != 1:
            raise ValueError(must('expansion', '1 in a basic block', kwargs['expansion']))
        self._build_layers(in_channels, out_channels, reduce_first, anti_alias, **kwargs)
        self._build_attention(attn_cfg, attn_position)

    def _build_layers(
        self,
        in_channels: int,
        out_channels: int,
        reduce_first: int,
        anti_alias: Optional[str],
        expansion: int = 1,
        stride: int = 1,
        dilation: int = 1,
        downsample: Optional[nn.Module] = None,
        style: str = 'pytorch',
        with_cp: bool = False,
        conv_cfg: Optional[dict] = None,
        norm_cfg: dict = dict(type='BN'),
        drop_path_rate: float = 0.0,
        act_cfg: dict = dict(type='ReLU', inplace=True),
        init_cfg: Optional[dict] = None,
    ) -> None:
        """mmpretrain's ``BasicBlock.__init__``, the first 3x3 stage built by ``_make_conv1``."""
        BaseModule.__init__(self, init_cfg=init_cfg)
        self.in_channels, self.out_channels, self.expansion = in_channels, out_channels, expansion
        self.mid_channels = out_channels // expansion
        self.reduce_first, self.first_channels = check_reduce_first(reduce_first, self.mid_channels)
        norm_cfg = check_norm_cfg('norm_cfg', norm_cfg, (self.first_channels, out_channels))
        self.stride, self.dilation, self.style, self.with_cp = stride, dilation, style, with_cp
        self.conv_cfg, self.norm_cfg = conv_cfg, norm_cfg
        self.aa = self._make_anti_alias(anti_alias, stride)
        self.conv1_stride = stride if self.aa is None else 1
        self._make_conv1(act_cfg)
        self.conv2 = build_conv_layer(
            conv_cfg, self.first_channels, out_channels, 3, padding=1, bias=False
        )
        self.norm2_name, norm2 = build_norm_layer(norm_cfg, out_channels, postfix=2)
        self.add_module(self.norm2_name, norm2)
        self.relu = build_activation_layer(act_cfg)
        self.downsample = downsample
        self.drop_path = DropPath(drop_path_rate) if drop_path_rate > eps else nn.Identity()

    def _make_anti_alias(self, anti_alias: Optional[str], stride: int) -> Optional[nn.Module]:
        """The pool after the first 3x3 stage, or None (see the class docstring)."""
        return build_anti_alias(anti_alias, stride)

    def _make_conv1(self, act_cfg: dict) -> None:
        """Build the first 3x3 stage: ``conv1`` and ``norm1`` (SKBasicBlock: an SKConv)."""
        self.conv1 = build_conv_layer(
            self.conv_cfg,
            self.in_channels,
            self.first_channels,
            3,
            stride=self.conv1_stride,
            padding=self.dilation,
            dilation=self.dilation,
            bias=False,
        )
        self.norm1_name, norm1 = build_norm_layer(self.norm_cfg, self.first_channels, postfix=1)
        self.add_module(self.norm1_name, norm1)

    def _conv1_block(self, x: Tensor) -> Tensor:
        """The first 3x3 stage of the branch (SKBasicBlock's is its SKConv alone)."""
        return self.relu(self.norm1(self.conv1(x)))

    @property
    def last_norm(self) -> nn.Module:
        return self.norm2

    def _branch_before_last_norm(self, x: Tensor) -> Tensor:
        out = self._conv1_block(x)
        return self.conv2(out if self.aa is None else self.aa(out))


@MODELS.register_module()
class SEBottleneck(AttentionSlotMixin, _GroupedBottleneck):
    """ResNet / ResNeXt bottleneck (1x1, 3x3, 1x1) with an attention slot.

    With ``groups=1`` this is the ResNet bottleneck (SE-ResNet); with
    ``groups > 1`` the 3x3 conv is grouped and the width is
    ``groups * width_per_group`` at the first stage (SE-ResNeXt).

    Args:
        in_channels (int): Input channels of this block.
        out_channels (int): Output channels of this block.
        attn_cfg (dict, optional): Config of the attention module, built with
            ``in_channels`` set to the channels at ``attn_position``. None
            gives a plain ResNet/ResNeXt block. ``se_cfg`` is a deprecated
            alias. Default: dict(type='se_plugin.SELayer', ratio=16).
        attn_position (str): One of ``ATTN_POSITIONS``: ``'standard'``,
            ``'pre'``, ``'post'``, ``'identity'``, ``'after_conv2'``.
            ``se_position`` is a deprecated alias. Default: 'standard'.
        groups (int): Groups of the 3x3 conv. Default: 1.
        width_per_group (int): Width of each group of the 3x3 conv at the
            first stage (used when ``groups > 1``). Default: 4.
        base_channels (int): Middle channels of the first stage, to scale
            ``width_per_group`` to later stages. Default: 64.
        reduce_first (int): The first 1x1 conv outputs ``mid_channels //
            reduce_first`` channels, from which the 3x3 conv makes
            ``mid_channels`` (timm's ``block_reduce_first``; SENet-154: 2).
            Default: 1.
        anti_alias (str, optional): ``'avg'``: a stride-2 block runs its 3x3
            conv at stride 1 and average-pools 2x2 after its activation
            (before ``after_conv2``; timm's ``aa_layer=nn.AvgPool2d``,
            :func:`~se_plugin.models.layers.anti_alias.build_anti_alias`).
            Needs ``style='pytorch'``. Default: None.
        **kwargs: The arguments of mmpretrain's ``Bottleneck`` (``expansion``,
            ``stride``, ``dilation``, ``downsample``, ``style``, ``with_cp``,
            ``conv_cfg``, ``norm_cfg``, ``act_cfg``, ``drop_path_rate``,
            ``init_cfg``).

    Example:
        >>> import torch
        >>> from se_plugin.models import SEBottleneck
        >>> block = SEBottleneck(256, 256, groups=4, width_per_group=4,
        ...                      attn_position='after_conv2')
        >>> block.mid_channels, block.attn.in_channels
        (16, 16)
        >>> block(torch.rand(1, 256, 8, 8)).shape
        torch.Size([1, 256, 8, 8])
    """

    @accepts_se_names
    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        attn_cfg: Optional[dict] = dict(type='se_plugin.SELayer', ratio=16),
        attn_position: str = 'standard',
        groups: int = 1,
        width_per_group: int = 4,
        base_channels: int = 64,
        reduce_first: int = 1,
        anti_alias: Optional[str] = None,
        **kwargs,
    ) -> None:
        groups = check_int('groups', groups, minimum=1)
        width_per_group = check_int('width_per_group', width_per_group, minimum=1)
        base_channels = check_int('base_channels', base_channels, minimum=1)
        in_channels, out_channels, kwargs = check_block_args(
            in_channels, out_channels, kwargs, kwargs.get('expansion', 4)
        )
        expansion = kwargs['expansion']
        if groups > 1 and (out_channels // expansion) % base_channels:
            allowed = (
                f'a multiple of expansion * base_channels = {expansion * base_channels} '
                'in a grouped bottleneck'
            )
            raise ValueError(must('out_channels', allowed, out_channels))
        self._build_layers(
            in_channels,
            out_channels,
            groups,
            width_per_group,
            base_channels,
            reduce_first,
            anti_alias,
            **kwargs,
        )
        self._build_attention(attn_cfg, attn_position)

    def _build_layers(
        self,
        in_channels: int,
        out_channels: int,
        groups: int,
        width_per_group: int,
        base_channels: int,
        reduce_first: int,
        anti_alias: Optional[str],
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
        because it builds ``conv2``/``norm2`` inline. ``first_channels`` is
        the width of ``conv1`` (``mid_channels // reduce_first``).
        """
        BaseModule.__init__(self, init_cfg=init_cfg)
        self.in_channels, self.out_channels, self.expansion = in_channels, out_channels, expansion
        self.mid_channels = out_channels // expansion
        if groups != 1:  # ResNeXt: the width follows the groups and the stage
            self.mid_channels = groups * width_per_group * self.mid_channels // base_channels
        self.reduce_first, self.first_channels = check_reduce_first(reduce_first, self.mid_channels)
        norm_cfg = check_norm_cfg(
            'norm_cfg', norm_cfg, (self.first_channels, self.mid_channels, out_channels)
        )
        self.groups, self.width_per_group = groups, width_per_group
        self.stride, self.dilation, self.style, self.with_cp = stride, dilation, style, with_cp
        self.conv_cfg, self.norm_cfg = conv_cfg, norm_cfg
        self.conv1_stride, self.conv2_stride = (1, stride) if style == 'pytorch' else (stride, 1)
        if anti_alias is not None and style != 'pytorch':
            allowed = "'pytorch' with anti_alias (the pool takes over the 3x3 conv's stride)"
            raise ValueError(must('style', allowed, style))
        self.aa = self._make_anti_alias(anti_alias, self.conv2_stride)
        if self.aa is not None:
            self.conv2_stride = 1
        self.conv1 = build_conv_layer(
            conv_cfg, in_channels, self.first_channels, 1, stride=self.conv1_stride, bias=False
        )
        self.norm1_name, norm1 = build_norm_layer(norm_cfg, self.first_channels, postfix=1)
        self.add_module(self.norm1_name, norm1)
        self._make_conv2(act_cfg)
        self.conv3 = build_conv_layer(conv_cfg, self.mid_channels, out_channels, 1, bias=False)
        self.norm3_name, norm3 = build_norm_layer(norm_cfg, out_channels, postfix=3)
        self.add_module(self.norm3_name, norm3)
        self.relu = build_activation_layer(act_cfg)
        self.downsample = downsample
        self.drop_path = DropPath(drop_path_rate) if drop_path_rate > eps else nn.Identity()

    def _make_anti_alias(self, anti_alias: Optional[str], stride: int) -> Optional[nn.Module]:
        """The pool after the 3x3 stage, or None (see the class docstring)."""
        return build_anti_alias(anti_alias, stride)

    def _make_conv2(self, act_cfg: dict) -> None:
        """Build the 3x3 stage: ``conv2`` (grouped 3x3) and ``norm2`` (SKBlock: an SKConv)."""
        check_divisible(
            'the 3x3 conv input width (mid_channels / reduce_first)',
            self.first_channels,
            'groups',
            self.groups,
        )
        self.conv2 = build_conv_layer(
            self.conv_cfg,
            self.first_channels,
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
        out = self._conv2_block(self.relu(self.norm1(self.conv1(x))))
        if self.aa is not None:
            out = self.aa(out)
        return self.conv3(self._attend('after_conv2', out))
