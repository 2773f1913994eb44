"""SKNet backbone (Selective Kernel Networks, arXiv 1903.06586)."""

from __future__ import annotations

from typing import Optional

import torch.nn as nn
from torch import Tensor

from se_plugin.checks import check_bool, check_choice, check_int, check_positive_number, must
from se_plugin.models.layers.sk_conv import SK_SELECTS, SKConv
from se_plugin.registry import MODELS

from .base import accepts_se_names
from .blocks import SEBasicBlock, SEBottleneck
from .se_resnext import SEResNeXt


def refuse_anti_alias(block: nn.Module, anti_alias: Optional[str]) -> None:
    """SK blocks take no ``anti_alias``: timm would pool inside each SK path (no weights do)."""
    if anti_alias is not None:
        allowed = f'None in {type(block).__name__} (its stride is in the SK paths)'
        raise ValueError(must('anti_alias', allowed, anti_alias))


def sk_conv_args(
    num_paths: int, sk_ratio: float, min_channels: int, sk_select: str, split_input: bool
) -> dict:
    """An SK block's :class:`SKConv` arguments. ``num_paths``, ``min_channels`` and
    ``split_input`` are checked by the SKConv; ``sk_ratio`` and ``sk_select`` here,
    where they have the names the user gave (the SKConv's ``ratio``, ``select``)."""
    return dict(
        num_paths=num_paths,
        ratio=check_positive_number('sk_ratio', sk_ratio),
        min_channels=min_channels,
        select=check_choice('sk_select', sk_select, SK_SELECTS),
        split_input=split_input,
    )


def build_sk_conv(
    block: nn.Module, in_channels: int, out_channels: int, stride: int, act_cfg: dict
) -> SKConv:
    """The :class:`SKConv` of an SK block's 3x3 stage (``block.sk_args``, its conv/norm configs)."""
    return SKConv(
        in_channels,
        out_channels,
        stride=stride,
        groups=block.groups,
        dilation=block.dilation,
        conv_cfg=block.conv_cfg,
        norm_cfg=block.norm_cfg,
        act_cfg=act_cfg,
        **block.sk_args,
    )


@MODELS.register_module()
class SKBlock(SEBottleneck):
    """ResNeXt bottleneck whose grouped 3x3 conv is an :class:`SKConv`.

    Only the 3x3 stage differs from :class:`SEBottleneck`: its ``_make_conv2``
    builds ``conv2`` as an SKConv (which carries its own norms and
    activations) and no ``norm2``. The residual logic (drop path, gradient
    checkpointing) and the attention slot (``attn_cfg`` / ``attn_position``, so
    SE can sit on top of SK) are the shared ones of :class:`AttentionSlotMixin`.

    Args:
        in_channels (int): Input channels of this block.
        out_channels (int): Output channels of this block.
        num_paths (int): Number of SK paths M. Default: 2.
        sk_ratio (float): SK fuse reduction ratio r. Default: 16.
        min_channels (int): Minimum SK fuse width L. Default: 32.
        sk_select (str): ``'attention'`` (the paper's selection) or ``'sum'``
            (the paths summed: the cost of the extra paths alone, see
            :class:`SKConv`). Default: 'attention'.
        split_input (bool): Each SK path reads its own channel chunk of the
            input (timm's ``skresnet50``; see :class:`SKConv`). Default: False.
        attn_cfg (dict, optional): Config of an extra attention module in the
            slot (e.g. ``SELayer``); ``se_cfg`` is a deprecated alias.
            Default: None (plain SK block).
        attn_position (str): Position of that module, one of
            ``ATTN_POSITIONS``; ``se_position`` is a deprecated alias.
            Default: 'standard'.
        groups (int): Groups of the SK paths. Default: 32.
        width_per_group (int): Width of each group at the first stage.
            Default: 4.
        base_channels (int): Middle channels of the first stage. Default: 64.
        **kwargs: ``reduce_first`` (see :class:`SEBottleneck`; ``anti_alias``
            is refused) and the arguments of mmpretrain's ``Bottleneck``
            (``expansion``, ``stride``, ``dilation``, ``downsample``,
            ``style``, ``with_cp``, ``conv_cfg``, ``norm_cfg``, ``act_cfg``,
            ``drop_path_rate``, ``init_cfg``); ``conv_cfg``, ``norm_cfg`` and
            ``act_cfg`` also configure the SKConv.

    Example:
        >>> import torch
        >>> from se_plugin.models import SKBlock
        >>> block = SKBlock(256, 256, groups=8, width_per_group=4, min_channels=8)
        >>> block.mid_channels  # groups * width_per_group at the first stage
        32
        >>> block(torch.rand(2, 256, 8, 8)).shape
        torch.Size([2, 256, 8, 8])
        >>> hasattr(block, 'norm2')
        False
    """

    @accepts_se_names
    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        num_paths: int = 2,
        sk_ratio: float = 16,
        min_channels: int = 32,
        sk_select: str = 'attention',
        split_input: bool = False,
        attn_cfg: Optional[dict] = None,
        attn_position: str = 'standard',
        groups: int = 32,
        width_per_group: int = 4,
        base_channels: int = 64,
        **kwargs,
    ) -> None:
        self.sk_args = sk_conv_args(num_paths, sk_ratio, min_channels, sk_select, split_input)
        super().__init__(
            in_channels,
            out_channels,
            attn_cfg=attn_cfg,
            attn_position=attn_position,
            groups=groups,
            width_per_group=width_per_group,
            base_channels=base_channels,
            **kwargs,
        )

    def _make_anti_alias(self, anti_alias: Optional[str], stride: int) -> None:
        refuse_anti_alias(self, anti_alias)

    def _make_conv2(self, act_cfg: dict) -> None:
        # SKConv normalises each path itself: there is no norm2 (its name, as
        # mmpretrain's blocks have it, names the empty slot; `block.norm2` fails)
        self.norm2_name = self.norm1_name[:-1] + '2'
        self.conv2 = build_sk_conv(
            self, self.first_channels, self.mid_channels, self.conv2_stride, act_cfg
        )

    def _conv2_block(self, x: Tensor) -> Tensor:
        return self.conv2(x)


@MODELS.register_module()
class SKBasicBlock(SEBasicBlock):
    """ResNet basic block whose first 3x3 conv is an :class:`SKConv` (timm's
    ``SelectiveKernelBasic``, in ``skresnet18/34``).

    Only the first 3x3 stage differs from :class:`SEBasicBlock`: its
    ``_make_conv1`` builds ``conv1`` as an SKConv (which carries its own norms
    and activations, so there is no ``norm1``); ``conv2`` and ``norm2`` follow
    as in a basic block. The residual logic and the attention slot are the
    shared ones of :class:`AttentionSlotMixin`.

    Args:
        in_channels (int): Input channels of this block.
        out_channels (int): Output channels of this block.
        num_paths (int): Number of SK paths M. Default: 2.
        sk_ratio (float): SK fuse reduction ratio r. Default: 16.
        min_channels (int): Minimum SK fuse width L. Default: 32.
        sk_select (str): ``'attention'`` or ``'sum'`` (see :class:`SKConv`).
            Default: 'attention'.
        split_input (bool): Each SK path reads its own channel chunk of the
            input (timm's ``skresnet18/34``). Default: False.
        groups (int): Groups of the SK paths. Default: 1.
        attn_cfg (dict, optional): Config of an extra attention module in the
            slot; ``se_cfg`` is a deprecated alias. Default: None.
        attn_position (str): ``'standard'``, ``'pre'``, ``'post'`` or
            ``'identity'``. Default: 'standard'.
        **kwargs: ``reduce_first`` (see :class:`SEBasicBlock`; ``anti_alias``
            is refused) and the arguments of mmpretrain's ``BasicBlock``
            (``stride``, ``dilation``, ``downsample``, ``with_cp``,
            ``conv_cfg``, ``norm_cfg``, ``act_cfg``, ``drop_path_rate``,
            ``init_cfg``); ``conv_cfg``, ``norm_cfg`` and ``act_cfg`` also
            configure the SKConv.

    Example:
        >>> import torch
        >>> from se_plugin.models import SKBasicBlock
        >>> block = SKBasicBlock(64, 64, sk_ratio=8, min_channels=16, split_input=True)
        >>> block.conv1.paths[0].conv.in_channels, block.conv1.fuse_channels
        (32, 16)
        >>> block(torch.rand(2, 64, 8, 8)).shape
        torch.Size([2, 64, 8, 8])
    """

    @accepts_se_names
    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        num_paths: int = 2,
        sk_ratio: float = 16,
        min_channels: int = 32,
        sk_select: str = 'attention',
        split_input: bool = False,
        groups: int = 1,
        attn_cfg: Optional[dict] = None,
        attn_position: str = 'standard',
        **kwargs,
    ) -> None:
        self.groups = check_int('groups', groups, minimum=1)
        self.sk_args = sk_conv_args(num_paths, sk_ratio, min_channels, sk_select, split_input)
        super().__init__(
            in_channels, out_channels, attn_cfg=attn_cfg, attn_position=attn_position, **kwargs
        )

    def _make_anti_alias(self, anti_alias: Optional[str], stride: int) -> None:
        refuse_anti_alias(self, anti_alias)

    def _make_conv1(self, act_cfg: dict) -> None:
        # SKConv normalises each path itself: no norm1 (`block.norm1` fails)
        self.conv1 = build_sk_conv(
            self, self.in_channels, self.first_channels, self.conv1_stride, act_cfg
        )

    def _conv1_block(self, x: Tensor) -> Tensor:
        return self.conv1(x)


@MODELS.register_module()
class SKNet(SEResNeXt):
    """SKNet backbone: ResNeXt whose 3x3 convs are Selective Kernel convs.

    SKNet-50 is ResNeXt-50 (32x4d) with ``SK[M=2, G=32, r=16]`` and
    ``L=32`` in every block (paper Table 1). Depths 18 and 34 are ResNets of
    :class:`SKBasicBlock` (SK in the first 3x3 conv of each basic block, as
    timm's ``skresnet18/34``). An SE module (or any attention
    in the slot) can be put on top with ``attn_cfg``. All arguments of
    :class:`SEResNet` and mmpretrain's ``ResNet`` work (``out_indices``,
    ``frozen_stages``, ``norm_eval``, ``drop_path_rate``, ``with_cp``,
    ``stem_type``, ``init_cfg``, ...).

    Args:
        depth (int): 18 (basic blocks 2-2-2-2), 34 (basic, 3-4-6-3), or
            bottleneck depths 26 (2-2-2-2), 50 (3-4-6-3), 101 (3-4-23-3).
        num_paths (int): Number of SK paths M. Default: 2.
        sk_ratio (float): SK fuse reduction ratio r. Default: 16.
        min_channels (int): Minimum SK fuse width L. Default: 32.
        sk_select (str): ``'attention'`` or ``'sum'`` (no selection: the floor
            that times the extra paths alone). Default: 'attention'.
        split_input (bool): Each SK path reads its own channel chunk of its
            input (timm's ``skresnet18/34/50``). Default: False.
        attn_cfg (dict, optional): Config of an attention module put in the
            slot of each block of the selected stages (e.g. SE on top of SK);
            ``se_cfg`` is a deprecated alias. Default: None (plain SKNet).
        groups (int, optional): Groups G of the SK paths; None: 32 for the
            bottleneck depths, 1 for 18/34. With ``groups=1`` a bottleneck
            has ResNet widths. Default: None.
        width_per_group (int): Width of each group at the first stage
            (bottleneck depths with ``groups > 1``). Default: 4.
        **kwargs: Arguments of :class:`SEResNet` (``attn_position``,
            ``attn_stages``, ``stem_type``, ``stage_blocks``,
            ``deep_stem_channels``, ``stem_pool``, ``down_kernel_size``,
            ``reduce_first``; ``anti_alias`` is refused by the SK blocks) and of
            mmpretrain's ``ResNet``.

    Example:
        >>> import torch
        >>> from se_plugin.models import SKNet
        >>> model = SKNet(depth=50, out_indices=(0, 1, 2, 3))
        >>> _ = model.eval()
        >>> outputs = model(torch.rand(1, 3, 64, 64))
        >>> [tuple(out.shape) for out in outputs]
        [(1, 256, 16, 16), (1, 512, 8, 8), (1, 1024, 4, 4), (1, 2048, 2, 2)]
    """

    arch_settings = {
        18: (SKBasicBlock, (2, 2, 2, 2)),
        34: (SKBasicBlock, (3, 4, 6, 3)),
        26: (SKBlock, (2, 2, 2, 2)),
        50: (SKBlock, (3, 4, 6, 3)),
        101: (SKBlock, (3, 4, 23, 3)),
    }

    @accepts_se_names
    def __init__(
        self,
        depth: int,
        num_paths: int = 2,
        sk_ratio: float = 16,
        min_channels: int = 32,
        sk_select: str = 'attention',
        split_input: bool = False,
        attn_cfg: Optional[dict] = None,
        groups: Optional[int] = None,
        width_per_group: int = 4,
        **kwargs,
    ) -> None:
        # checked (again) by the blocks that use them; here too, so that the backbone's
        # attributes hold Python values, as SEResNeXt's groups
        self.num_paths = check_int('num_paths', num_paths, minimum=1)
        self.sk_ratio = check_positive_number('sk_ratio', sk_ratio)
        self.min_channels = check_int('min_channels', min_channels, minimum=1)
        self.sk_select = check_choice('sk_select', sk_select, SK_SELECTS)
        self.split_input = check_bool('split_input', split_input)
        if groups is None:
            block = self.arch_settings.get(depth, (None,))[0]
            groups = 1 if isinstance(block, type) and issubclass(block, SKBasicBlock) else 32
        super().__init__(
            depth, groups=groups, width_per_group=width_per_group, attn_cfg=attn_cfg, **kwargs
        )

    def block_kwargs(self) -> dict:
        kwargs = dict(
            super().block_kwargs(),
            num_paths=self.num_paths,
            sk_ratio=self.sk_ratio,
            min_channels=self.min_channels,
            sk_select=self.sk_select,
            split_input=self.split_input,
        )
        if issubclass(self.block, SKBasicBlock):  # a basic block's width is out_channels
            del kwargs['width_per_group'], kwargs['base_channels']
        return kwargs
