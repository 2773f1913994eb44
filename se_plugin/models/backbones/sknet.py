"""SKNet backbone (Selective Kernel Networks, arXiv 1903.06586)."""

from __future__ import annotations

from typing import Optional

from torch import Tensor

from se_plugin.checks import check_choice, check_int, check_positive_number
from se_plugin.models.layers.sk_conv import SK_SELECTS, SKConv
from se_plugin.registry import MODELS

from .base import accepts_se_names
from .blocks import SEBottleneck
from .se_resnext import SEResNeXt


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
        **kwargs: The arguments of mmpretrain's ``Bottleneck`` (``expansion``,
            ``stride``, ``dilation``, ``downsample``, ``style``, ``with_cp``,
            ``conv_cfg``, ``norm_cfg``, ``act_cfg``, ``drop_path_rate``,
            ``init_cfg``); ``conv_cfg``, ``norm_cfg`` and ``act_cfg`` also
            configure the SKConv.

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
        attn_cfg: Optional[dict] = None,
        attn_position: str = 'standard',
        groups: int = 32,
        width_per_group: int = 4,
        base_channels: int = 64,
        **kwargs,
    ) -> None:
        # num_paths and min_channels are checked by the SKConv; sk_ratio and sk_select
        # here, where they have the names the user gave (the SKConv's ratio and select)
        self.sk_args = dict(
            num_paths=num_paths,
            ratio=check_positive_number('sk_ratio', sk_ratio),
            min_channels=min_channels,
            select=check_choice('sk_select', sk_select, SK_SELECTS),
        )
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

    def _make_conv2(self, act_cfg: dict) -> None:
        # SKConv normalises each path itself: there is no norm2 (its name, as
        # mmpretrain's blocks have it, names the empty slot; `block.norm2` fails)
        self.norm2_name = self.norm1_name[:-1] + '2'
        self.conv2 = SKConv(
            self.mid_channels,
            self.mid_channels,
            stride=self.conv2_stride,
            groups=self.groups,
            dilation=self.dilation,
            conv_cfg=self.conv_cfg,
            norm_cfg=self.norm_cfg,
            act_cfg=act_cfg,
            **self.sk_args,
        )

    def _conv2_block(self, x: Tensor) -> Tensor:
        return self.conv2(x)


@MODELS.register_module()
class SKNet(SEResNeXt):
    """SKNet backbone: ResNeXt whose 3x3 convs are Selective Kernel convs.

    SKNet-50 is ResNeXt-50 (32x4d) with ``SK[M=2, G=32, r=16]`` and
    ``L=32`` in every block (paper Table 1). An SE module (or any attention
    in the slot) can be put on top with ``attn_cfg``. All arguments of
    :class:`SEResNet` and mmpretrain's ``ResNet`` work (``out_indices``,
    ``frozen_stages``, ``norm_eval``, ``drop_path_rate``, ``with_cp``,
    ``stem_type``, ``init_cfg``, ...).

    Args:
        depth (int): 26 (blocks 2-2-2-2), 50 (3-4-6-3) or 101 (3-4-23-3).
        num_paths (int): Number of SK paths M. Default: 2.
        sk_ratio (float): SK fuse reduction ratio r. Default: 16.
        min_channels (int): Minimum SK fuse width L. Default: 32.
        sk_select (str): ``'attention'`` or ``'sum'`` (no selection: the floor
            that times the extra paths alone). Default: 'attention'.
        attn_cfg (dict, optional): Config of an attention module put in the
            slot of each block of the selected stages (e.g. SE on top of SK);
            ``se_cfg`` is a deprecated alias. Default: None (plain SKNet).
        groups (int): Groups G of the SK paths. Default: 32.
        width_per_group (int): Width of each group at the first stage.
            Default: 4.
        **kwargs: Arguments of :class:`SEResNet` (``attn_position``,
            ``attn_stages``, ``stem_type``) and of mmpretrain's ``ResNet``.

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
        attn_cfg: Optional[dict] = None,
        groups: int = 32,
        width_per_group: int = 4,
        **kwargs,
    ) -> None:
        # checked (again) by the blocks that use them; here too, so that the backbone's
        # attributes hold Python values, as SEResNeXt's groups
        self.num_paths = check_int('num_paths', num_paths, minimum=1)
        self.sk_ratio = check_positive_number('sk_ratio', sk_ratio)
        self.min_channels = check_int('min_channels', min_channels, minimum=1)
        self.sk_select = check_choice('sk_select', sk_select, SK_SELECTS)
        super().__init__(
            depth, groups=groups, width_per_group=width_per_group, attn_cfg=attn_cfg, **kwargs
        )

    def block_kwargs(self) -> dict:
        return dict(
            super().block_kwargs(),
            num_paths=self.num_paths,
            sk_ratio=self.sk_ratio,
            min_channels=self.min_channels,
            sk_select=self.sk_select,
        )
