"""SE-ResNet backbone (SENet, arXiv 1709.01507)."""

from __future__ import annotations

import numbers
from typing import Optional, Sequence

import torch.nn as nn
from mmcv.cnn import ConvModule, build_conv_layer, build_norm_layer
from mmpretrain.models.backbones.resnet import ResNet

from se_plugin.checks import (
    ChoiceError,
    check_bool,
    check_bool_tuple,
    check_choice,
    check_conv_cfg,
    check_fraction,
    check_int,
    check_int_tuple,
    check_norm_cfg,
    check_odd,
    check_registered,
    must,
)
from se_plugin.models.layers.anti_alias import ANTI_ALIAS_MODES, build_anti_alias
from se_plugin.registry import MODELS

from .base import TrainReturnsSelf, accepts_se_names, reset_attention
from .blocks import SEBasicBlock, SEBottleneck
from .res_layer import ResLayer

STEM_TYPES = ('imagenet', 'cifar')
#: what follows the stem's convs: mmpretrain's 3x3 max pool (padding 1), Caffe's
#: (padding 0, ceil mode: the SENet authors' weights), or a strided 3x3 conv-norm-ReLU
#: (ResNet-RS, timm's ``replace_stem_pool``)
STEM_POOLS = ('max', 'max_ceil', 'conv')


@MODELS.register_module()
class SEResNet(TrainReturnsSelf, ResNet):
    """SE-ResNet backbone: mmpretrain's ResNet whose blocks carry an attention slot.

    All of mmpretrain's ``ResNet`` arguments work as there (``out_indices``,
    ``frozen_stages``, ``norm_eval``, ``drop_path_rate``, ``with_cp``,
    ``deep_stem``, ``avg_down``, ``zero_init_residual``, ``init_cfg``, ...).

    Args:
        depth (int): 18, 34, 50, 101 or 152.
        attn_cfg (dict, optional): Config of the attention module put in each
            block of the selected stages (any slot module: SE, ECA, CBAM, ...
            or your own); ``in_channels`` is filled in (one given must equal
            the channels at ``attn_position``). None gives a plain
            ResNet. Default: dict(type='se_plugin.SELayer', ratio=16).
        attn_position (str): Where the module sits in each block, one of
            ``'standard'``, ``'pre'``, ``'post'``, ``'identity'``,
            ``'after_conv2'`` (bottleneck depths only); see
            :mod:`se_plugin.models.backbones.blocks`. Default: 'standard'.
        attn_stages (Sequence[bool], optional): Which stages get attention
            (SENet Table 13), one bool per stage. Default: None (all stages).
        stem_type (str): ``'imagenet'`` (7x7 stride-2 conv, or the deep
            stem, + pool) or ``'cifar'`` (3x3 stride-1 conv, no pool; for
            28-64 px inputs). Default: 'imagenet'.
        stage_blocks (Sequence[int], optional): Blocks per stage, one positive
            int per stage, in place of the depth's (e.g. ``(2, 2, 2, 2)`` for
            timm's 26-layer bottleneck models); ``depth`` still picks the
            block (basic for 18/34, bottleneck from 50). Default: None.
        deep_stem_channels (Sequence[int], optional): Output channels of the
            deep stem's three 3x3 convs (``deep_stem=True``; the last must be
            ``stem_channels``), e.g. timm's tiered stem ``(24, 32, 64)``.
            None: mmpretrain's ``(stem_channels // 2, stem_channels // 2,
            stem_channels)``. Default: None.
        stem_pool (str): The stem's downsampling after its convs, one of
            ``STEM_POOLS``: ``'max'`` (3x3 max pool, padding 1), ``'max_ceil'``
            (3x3 max pool, padding 0, ceil mode: Caffe's, in the SENet
            authors' weights) or ``'conv'`` (3x3 stride-2 conv + norm + ReLU,
            ResNet-RS). ``stem_type='cifar'`` has no pool. Default: 'max'.
        anti_alias (str, optional): ``'avg'``: anti-aliased downsampling as
            timm's ``aa`` models: the stem pool is a 2x2 average pool (needs
            ``stem_pool='max'``, which it replaces) and every stride-2 block
            pools after its strided 3x3 conv, run at stride 1 (see the
            blocks). Default: None.
        down_kernel_size (int): Kernel of the strided projection shortcuts
            (SENet-154: 3; see
            :class:`~se_plugin.models.backbones.res_layer.ResLayer`).
            Default: 1.
        reduce_first (int): Width divisor of each block's first conv
            (SENet-154: 2; see the blocks). Default: 1.
        **kwargs: Further arguments of mmpretrain's ``ResNet``.

    ``se_cfg``, ``se_position`` and ``se_stages`` are deprecated aliases of
    the ``attn_*`` arguments (one ``FutureWarning`` per build).

    Example:
        >>> import torch
        >>> from se_plugin.models import SEResNet
        >>> model = SEResNet(depth=50, out_indices=(0, 1, 2, 3)).eval()
        >>> outputs = model(torch.rand(1, 3, 64, 64))
        >>> [tuple(out.shape) for out in outputs]
        [(1, 256, 16, 16), (1, 512, 8, 8), (1, 1024, 4, 4), (1, 2048, 2, 2)]
        >>> # timm's seresnet50t: tiered deep stem, average-pool shortcuts
        >>> model = SEResNet(depth=50, deep_stem=True, stem_channels=64,
        ...                  deep_stem_channels=(24, 32, 64), avg_down=True)
        >>> [m.conv.out_channels for m in model.stem]
        [24, 32, 64]
    """

    arch_settings = {
        18: (SEBasicBlock, (2, 2, 2, 2)),
        34: (SEBasicBlock, (3, 4, 6, 3)),
        50: (SEBottleneck, (3, 4, 6, 3)),
        101: (SEBottleneck, (3, 4, 23, 3)),
        152: (SEBottleneck, (3, 8, 36, 3)),
    }

    @accepts_se_names
    def __init__(
        self,
        depth: int,
        attn_cfg: Optional[dict] = dict(type='se_plugin.SELayer', ratio=16),
        attn_position: str = 'standard',
        attn_stages: Optional[Sequence[bool]] = None,
        stem_type: str = 'imagenet',
        stage_blocks: Optional[Sequence[int]] = None,
        deep_stem_channels: Optional[Sequence[int]] = None,
        stem_pool: str = 'max',
        anti_alias: Optional[str] = None,
        down_kernel_size: int = 1,
        reduce_first: int = 1,
        **kwargs,
    ) -> None:
        depth = check_choice('depth', depth, tuple(self.arch_settings), ChoiceError)
        num_stages = check_int('num_stages', kwargs.get('num_stages', 4), minimum=1, maximum=4)
        kwargs['num_stages'] = num_stages
        block = self.arch_settings[depth][0]
        self.attn_cfg = check_registered('attn_cfg', attn_cfg, MODELS, 'attention')
        self.attn_position = check_choice('attn_position', attn_position, block.attn_positions)
        self.attn_stages = (
            (True,) * num_stages
            if attn_stages is None
            else check_bool_tuple('attn_stages', attn_stages, num_stages)
        )
        self.stem_type = check_choice('stem_type', stem_type, STEM_TYPES)
        if stage_blocks is not None:  # mmpretrain's ResNet reads self.arch_settings[depth]
            counts = check_int_tuple('stage_blocks', stage_blocks, num_stages, minimum=1)
            self.arch_settings = {**type(self).arch_settings, depth: (block, counts)}
        self.stem_pool = check_choice('stem_pool', stem_pool, STEM_POOLS)
        # checked (again) where they are used: the stem (deep_stem_channels with
        # deep_stem) and the stages (down_kernel_size with avg_down in ResLayer,
        # reduce_first against the widths in the blocks); here too, so that the
        # backbone's attributes hold Python values
        if deep_stem_channels is not None:
            deep_stem_channels = check_int_tuple(
                'deep_stem_channels', deep_stem_channels, 3, minimum=1, per='stem conv'
            )
        self.deep_stem_channels = deep_stem_channels
        self.anti_alias = check_choice('anti_alias', anti_alias, (None, *ANTI_ALIAS_MODES))
        self.down_kernel_size = check_odd('down_kernel_size', down_kernel_size)
        self.reduce_first = check_int('reduce_first', reduce_first, minimum=1)
        # mmpretrain's defaults have 4 entries: fewer stages take the first ones
        kwargs.setdefault('strides', (1, 2, 2, 2)[:num_stages])
        kwargs.setdefault('dilations', (1, 1, 1, 1)[:num_stages])
        self._check_resnet_args(kwargs)
        super().__init__(depth, **kwargs)

    def init_weights(self) -> None:
        """mmpretrain's init, then each attention module's own init (its paper's).

        The blocks sit in ``nn.Sequential`` stages, which mmengine's init does
        not descend into, so the backbone's Kaiming init of every ``Conv2d``
        would be the last word on an attention module's convs (e.g. GCNet's
        zero-initialised last conv). After it, each slot module without an
        ``init_cfg`` of its own gets its paper's init (:func:`reset_attention`).
        Not with a ``Pretrained`` init: the loaded weights stay.
        """
        super().init_weights()
        if isinstance(self.init_cfg, dict) and self.init_cfg.get('type') == 'Pretrained':
            return
        reset_attention(self)

    @staticmethod
    def _check_resnet_args(kwargs: dict) -> None:
        """Turn the asserts (and deep crashes) of mmpretrain's ResNet into clear errors.

        Checks what ResNet itself uses (the blocks check what it only passes on
        to them, such as ``style``) and writes the normalised values back into
        ``kwargs``.
        """
        num_stages = kwargs['num_stages']
        for name in ('deep_stem', 'avg_down', 'norm_eval', 'with_cp', 'zero_init_residual'):
            if name in kwargs:
                kwargs[name] = check_bool(name, kwargs[name])
        deep_stem = kwargs.get('deep_stem', False)
        for name, default in (('in_channels', 3), ('stem_channels', 64), ('base_channels', 64)):
            smallest = 2 if name == 'stem_channels' and deep_stem else 1  # deep: half as wide
            kwargs[name] = check_int(name, kwargs.get(name, default), minimum=smallest)
        if kwargs.get('expansion') is not None:
            kwargs['expansion'] = check_int('expansion', kwargs['expansion'], minimum=1)
        frozen = kwargs.get('frozen_stages', -1)
        kwargs['frozen_stages'] = check_int('frozen_stages', frozen, minimum=-1, maximum=num_stages)
        # checked here as well as in the blocks: ResNet spreads it over the blocks
        # (torch.linspace), so only here does the message show the value given
        rate = check_fraction('drop_path_rate', kwargs.get('drop_path_rate', 0.0))
        kwargs['drop_path_rate'] = rate
        # the stem is built (by ResNet) before any block checks its own layers
        kwargs['conv_cfg'] = check_conv_cfg('conv_cfg', kwargs.get('conv_cfg'))
        stem = kwargs['stem_channels']
        stem_widths = (stem // 2, stem) if deep_stem else (stem,)
        norm_cfg = kwargs.get('norm_cfg', dict(type='BN', requires_grad=True))
        kwargs['norm_cfg'] = check_norm_cfg('norm_cfg', norm_cfg, stem_widths)
        out_indices = kwargs.get('out_indices', (3,))
        if not isinstance(out_indices, (list, tuple)) or not all(
            isinstance(i, numbers.Integral)
            and not isinstance(i, bool)
            and -num_stages <= i < num_stages
            for i in out_indices
        ):
            raise ValueError(
                f'out_indices must be a tuple of stage indices in [-{num_stages}, '
                f'{num_stages - 1}] (negative: from the end), got {out_indices!r}'
            )
        # negative indices count from the end (mmpretrain's ResNet would return nothing)
        kwargs['out_indices'] = type(out_indices)(int(i) % num_stages for i in out_indices)
        for name in ('strides', 'dilations'):
            if name in kwargs:
                kwargs[name] = check_int_tuple(name, kwargs[name], num_stages, minimum=1)

    def block_kwargs(self) -> dict:
        """Extra arguments passed to every block (SEResNeXt adds its groups)."""
        return dict(reduce_first=self.reduce_first, anti_alias=self.anti_alias)

    def make_res_layer(self, **kwargs) -> nn.Module:
        stage = len(self.res_layers)  # ResNet appends each layer after making it
        # ResLayer builds the shortcut's norm before the first block checks its own
        check_norm_cfg('norm_cfg', kwargs['norm_cfg'], (kwargs['out_channels'],))
        return ResLayer(
            attn_cfg=self.attn_cfg if self.attn_stages[stage] else None,
            attn_position=self.attn_position,
            down_kernel_size=self.down_kernel_size,
            **self.block_kwargs(),
            **kwargs,
        )

    def _make_stem_layer(self, in_channels: int, stem_channels: int) -> None:
        if self.stem_type == 'cifar':
            self._make_cifar_stem(in_channels, stem_channels)
        elif self.deep_stem:
            self.stem = self._make_deep_stem(in_channels, stem_channels)
        elif self.deep_stem_channels is not None:
            allowed = 'None without deep_stem=True (it gives the widths of the deep stem)'
            raise ValueError(must('deep_stem_channels', allowed, self.deep_stem_channels))
        else:
            super()._make_stem_layer(in_channels, stem_channels)  # 7x7 conv, norm, ReLU
        self.maxpool = self._make_stem_pool(stem_channels)

    def _make_cifar_stem(self, in_channels: int, stem_channels: int) -> None:
        for name, value, default in (
            ('deep_stem', self.deep_stem, False),
            ('deep_stem_channels', self.deep_stem_channels, None),
            ('stem_pool', self.stem_pool, 'max'),
        ):
            if value != default:
                allowed = f"{default!r} with stem_type='cifar' (one 3x3 conv, no pool)"
                raise ValueError(must(name, allowed, value))
        self.conv1 = build_conv_layer(
            self.conv_cfg, in_channels, stem_channels, 3, stride=1, padding=1, bias=False
        )
        self.norm1_name, norm1 = build_norm_layer(self.norm_cfg, stem_channels, postfix=1)
        self.add_module(self.norm1_name, norm1)
        self.relu = nn.ReLU(inplace=True)

    def _make_deep_stem(self, in_channels: int, stem_channels: int) -> nn.Sequential:
        """mmpretrain's deep stem (three 3x3 conv-norm-ReLU, the first stride 2) with
        ``deep_stem_channels`` as its widths."""
        widths = self.deep_stem_channels
        if widths is None:
            widths = (stem_channels // 2, stem_channels // 2, stem_channels)
        widths = check_int_tuple('deep_stem_channels', widths, 3, minimum=1, per='stem conv')
        if widths[-1] != stem_channels:
            allowed = f'3 ints ending with stem_channels={stem_channels} (the first stage input)'
            raise ValueError(must('deep_stem_channels', allowed, widths))
        check_norm_cfg('norm_cfg', self.norm_cfg, widths)
        ins = (in_channels, *widths[:2])
        return nn.Sequential(
            *(
                ConvModule(
                    cin,
                    cout,
                    kernel_size=3,
                    stride=2 if i == 0 else 1,
                    padding=1,
                    conv_cfg=self.conv_cfg,
                    norm_cfg=self.norm_cfg,
                    inplace=True,
                )
                for i, (cin, cout) in enumerate(zip(ins, widths))
            )
        )

    def _make_stem_pool(self, channels: int) -> nn.Module:
        """The stem's downsampling after its convs (``stem_pool``, ``anti_alias``)."""
        if self.stem_type == 'cifar':
            return nn.Identity()
        aa = build_anti_alias(self.anti_alias, 2)
        if aa is not None:
            if self.stem_pool != 'max':
                allowed = "'max' with anti_alias (whose pool replaces the stem's max pool)"
                raise ValueError(must('stem_pool', allowed, self.stem_pool))
            return aa
        if self.stem_pool == 'max':
            return nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        if self.stem_pool == 'max_ceil':
            return nn.MaxPool2d(kernel_size=3, stride=2, padding=0, ceil_mode=True)
        return ConvModule(
            channels,
            channels,
            kernel_size=3,
            stride=2,
            padding=1,
            conv_cfg=self.conv_cfg,
            norm_cfg=self.norm_cfg,
            inplace=True,
        )

    def _freeze_stages(self) -> None:
        """mmpretrain's, and the stem pool's parameters (``stem_pool='conv'``) with the stem."""
        super()._freeze_stages()
        if self.frozen_stages >= 0:
            self.maxpool.eval()
            for param in self.maxpool.parameters():
                param.requires_grad = False
