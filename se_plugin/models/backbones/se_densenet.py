"""SE-DenseNet: mmpretrain's DenseNet with SE after its dense blocks."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Optional, Union

from mmpretrain.models.backbones.densenet import DenseNet

from se_plugin.checks import (
    ChoiceError,
    check_act_cfg,
    check_bool,
    check_bool_tuple,
    check_fraction,
    check_int,
    check_norm_cfg,
    check_positive_number,
    check_registered,
    check_slot_channels,
    must,
)
from se_plugin.models.inject import inject_attention
from se_plugin.registry import MODELS

from .base import TrainReturnsSelf, accepts_se_names, reset_attention


def dense_norm_widths(arch: dict, bn_size: int, compression_factor: float) -> tuple:
    """The widths mmpretrain's DenseNet builds its norms for (stem, dense layers,
    transitions, final norm), so that a GroupNorm's ``num_groups`` is checked
    against each before anything is built."""
    growth, depths, channels = arch['growth_rate'], arch['depths'], arch['init_channels']
    widths = {channels, bn_size * growth}
    for stage, depth in enumerate(depths):
        widths.update(channels + layer * growth for layer in range(depth))
        channels += depth * growth
        widths.add(channels)  # the transition's norm (the final norm after the last stage)
        if stage < len(depths) - 1:
            if math.floor(channels * compression_factor) < 1:
                allowed = f'large enough to leave transition {stage} 1 of its {channels} channels'
                raise ValueError(must('compression_factor', allowed, compression_factor))
            channels = math.floor(channels * compression_factor)
    return tuple(sorted(widths))


@MODELS.register_module()
class SEDenseNet(TrainReturnsSelf, DenseNet):
    """DenseNet with an attention module (SE by default) after dense blocks.

    DenseNet has no residual branch to put SE in; the common SE-DenseNet
    recipe recalibrates the concatenated features of a dense block. By default
    only the last dense block gets SE (before the final norm and activation);
    ``attn_stages`` selects others, e.g. ``(True,) * 4`` for SE after every
    dense block (before each transition). The modules are inserted with
    :func:`se_plugin.models.inject_attention`, so the plain DenseNet's
    state-dict keys (and pretrained weights) are unchanged and the SE modules
    live in ``injected_attention`` (keys ``stages_0`` .. ``stages_3``).

    Args:
        arch (str | dict): DenseNet architecture: ``'121'``, ``'169'``,
            ``'201'``, ``'161'`` or a dict with ``growth_rate``, ``depths``
            and ``init_channels``. Default: '121'.
        attn_cfg (dict, optional): Config of the attention module (any slot
            module); ``in_channels`` is set to the block's output channels
            (one given must equal them).
            None gives a plain DenseNet. ``se_cfg`` is a deprecated alias.
            Default: dict(type='se_plugin.SELayer', ratio=16).
        attn_stages (Sequence[bool], optional): Which dense blocks get the
            module, one bool per block; ``se_stages`` is a deprecated alias.
            Default: None (the last one only).
        **kwargs: Further arguments of mmpretrain's ``DenseNet``
            (``in_channels``, ``bn_size``, ``drop_rate``,
            ``compression_factor``, ``memory_efficient``, ``norm_cfg``,
            ``act_cfg``, ``out_indices``, ``frozen_stages``, ``init_cfg``).

    Example:
        >>> import torch
        >>> from se_plugin.models import SEDenseNet
        >>> model = SEDenseNet(arch='121')
        >>> model.block_channels
        (256, 512, 1024, 1024)
        >>> list(model.injected_attention)
        ['stages_3']
        >>> model.eval()(torch.rand(1, 3, 64, 64))[0].shape
        torch.Size([1, 1024, 2, 2])
    """

    @accepts_se_names
    def __init__(
        self,
        arch: Union[str, dict] = '121',
        attn_cfg: Optional[dict] = dict(type='se_plugin.SELayer', ratio=16),
        attn_stages: Optional[Sequence[bool]] = None,
        **kwargs,
    ) -> None:
        arch = self._check_arch(arch)
        attn_cfg = check_registered('attn_cfg', attn_cfg, MODELS, 'attention')
        self._check_densenet_args(arch, kwargs)
        super().__init__(arch, **kwargs)
        self.attn_stages = (
            (False,) * (self.num_stages - 1) + (True,)
            if attn_stages is None
            else check_bool_tuple('attn_stages', attn_stages, self.num_stages)
        )
        # The output channels of each dense block, told to the inserter.
        channels, block_channels = self.init_channels, []
        for stage, transition in zip(self.stages, self.transitions):
            channels += len(stage.block) * self.growth_rate
            stage.out_channels = channels
            block_channels.append(channels)
            conv = getattr(transition, 'conv', None)
            if conv is not None:
                channels = conv.out_channels
        self.block_channels = tuple(block_channels)
        for i, on in enumerate(self.attn_stages):
            if on and attn_cfg is not None:
                where = f'the output channels of dense block {i}'
                cfg = check_slot_channels('attn_cfg', attn_cfg, self.block_channels[i], where)
                inject_attention(self, cfg, f'stages.{i}')

    def _check_arch(self, arch: Union[str, dict]) -> dict:
        """The architecture dict of ``arch`` (a name, or a dict as mmpretrain's), checked."""
        names = ', '.join(repr(a) for a in self.arch_settings)
        allowed = f"one of {names} or a dict with 'growth_rate', 'depths', 'init_channels'"
        if isinstance(arch, str) and arch in self.arch_settings:
            arch = self.arch_settings[arch]
            return dict(arch, depths=list(arch['depths']))
        if isinstance(arch, str):
            raise ChoiceError(must('arch', allowed, arch))
        if not isinstance(arch, dict):
            raise TypeError(must('arch', allowed, arch))
        if {'growth_rate', 'depths', 'init_channels'} - set(arch):
            raise ValueError(must('arch', allowed, arch))
        depths = arch['depths']
        if not isinstance(depths, (list, tuple)) or not depths:
            raise TypeError(must("arch['depths']", 'a non-empty list of ints', depths))
        return dict(
            arch,
            growth_rate=check_int("arch['growth_rate']", arch['growth_rate'], minimum=1),
            depths=[check_int(f"arch['depths'][{i}]", d, minimum=1) for i, d in enumerate(depths)],
            init_channels=check_int("arch['init_channels']", arch['init_channels'], minimum=1),
        )

    @staticmethod
    def _check_densenet_args(arch: dict, kwargs: dict) -> None:
        """Turn the asserts (and deep crashes) of mmpretrain's DenseNet into clear errors,
        writing the normalised values back into ``kwargs``."""
        num_stages = len(arch['depths'])
        for name, default in (('in_channels', 3), ('bn_size', 4)):
            kwargs[name] = check_int(name, kwargs.get(name, default), minimum=1)
        kwargs['drop_rate'] = check_fraction('drop_rate', kwargs.get('drop_rate', 0))
        factor = check_positive_number('compression_factor', kwargs.get('compression_factor', 0.5))
        if factor > 1:
            raise ValueError(must('compression_factor', 'a number in (0, 1]', factor))
        kwargs['compression_factor'] = factor
        efficient = kwargs.get('memory_efficient', False)
        kwargs['memory_efficient'] = check_bool('memory_efficient', efficient)
        widths = dense_norm_widths(arch, kwargs['bn_size'], factor)
        norm_cfg = kwargs.get('norm_cfg', dict(type='BN'))
        kwargs['norm_cfg'] = check_norm_cfg('norm_cfg', norm_cfg, widths)
        kwargs['act_cfg'] = check_act_cfg('act_cfg', kwargs.get('act_cfg', dict(type='ReLU')))
        frozen = kwargs.get('frozen_stages', 0)
        kwargs['frozen_stages'] = check_int('frozen_stages', frozen, minimum=-1, maximum=num_stages)
        out_indices = kwargs.get('out_indices', -1)
        named = (
            [(f'out_indices[{i}]', index) for i, index in enumerate(out_indices)]
            if isinstance(out_indices, (list, tuple))
            else [('out_indices', out_indices)]
        )
        kwargs['out_indices'] = [  # a list: DenseNet edits it
            check_int(name, index, -num_stages, num_stages - 1) % num_stages
            for name, index in named
        ]

    def init_weights(self) -> None:
        """mmpretrain's init, then each attention module's own (its paper's, see
        :func:`~se_plugin.models.backbones.base.reset_attention`); not with a
        ``Pretrained`` init."""
        super().init_weights()
        if isinstance(self.init_cfg, dict) and self.init_cfg.get('type') == 'Pretrained':
            return
        reset_attention(self)
