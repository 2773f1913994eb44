"""SE-ResNet backbone (SENet, arXiv 1709.01507)."""

from __future__ import annotations

import numbers
from typing import Optional, Sequence

import torch.nn as nn
from mmcv.cnn import build_conv_layer, build_norm_layer
from mmpretrain.models.backbones.resnet import ResLayer, ResNet

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
    check_registered,
)
from se_plugin.registry import MODELS

from .base import TrainReturnsSelf, accepts_se_names, reset_attention
from .blocks import SEBasicBlock, SEBottleneck

STEM_TYPES = ('imagenet', 'cifar')


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
        stem_type (str): ``'imagenet'`` (7x7 stride-2 conv + max pool) or
            ``'cifar'`` (3x3 stride-1 conv, no pool; for 28-64 px inputs).
            Default: 'imagenet'.
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
        return {}

    def make_res_layer(self, **kwargs) -> nn.Module:
        stage = len(self.res_layers)  # ResNet appends each layer after making it
        # ResLayer builds the shortcut's norm before the first block checks its own
        check_norm_cfg('norm_cfg', kwargs['norm_cfg'], (kwargs['out_channels'],))
        return ResLayer(
            attn_cfg=self.attn_cfg if self.attn_stages[stage] else None,
            attn_position=self.attn_position,
            **self.block_kwargs(),
            **kwargs,
        )

    def _make_stem_layer(self, in_channels: int, stem_channels: int) -> None:
        if self.stem_type == 'imagenet':
            super()._make_stem_layer(in_channels, stem_channels)
            return
        if self.deep_stem:
            raise ValueError("deep_stem=True is not available with stem_type='cifar'")
        self.conv1 = build_conv_layer(
            self.conv_cfg, in_channels, stem_channels, 3, stride=1, padding=1, bias=False
        )
        self.norm1_name, norm1 = build_norm_layer(self.norm_cfg, stem_channels, postfix=1)
        self.add_module(self.norm1_name, norm1)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.Identity()
