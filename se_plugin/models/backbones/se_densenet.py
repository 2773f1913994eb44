"""SE-DenseNet: mmpretrain's DenseNet with SE after its dense blocks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional, Union

from mmpretrain.models.backbones.densenet import DenseNet

from se_plugin.checks import check_bool_tuple, check_cfg
from se_plugin.models.inject import inject_attention
from se_plugin.registry import MODELS

from .base import TrainReturnsSelf, accepts_se_names, reset_attention


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
        attn_cfg (dict): Config of the attention module (any slot module);
            ``in_channels`` is set to the block's output channels. ``se_cfg``
            is a deprecated alias. Default:
            dict(type='se_plugin.SELayer', ratio=16).
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
        attn_cfg: dict = dict(type='se_plugin.SELayer', ratio=16),
        attn_stages: Optional[Sequence[bool]] = None,
        **kwargs,
    ) -> None:
        if isinstance(arch, str) and arch not in self.arch_settings:
            allowed = ', '.join(repr(a) for a in self.arch_settings)
            raise ValueError(f'arch must be one of {allowed} or a dict, got {arch!r}')
        attn_cfg = check_cfg('attn_cfg', attn_cfg, optional=False)
        if isinstance(kwargs.get('out_indices'), (list, tuple)):
            kwargs['out_indices'] = list(kwargs['out_indices'])  # DenseNet edits it
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
        after = [f'stages.{i}' for i, on in enumerate(self.attn_stages) if on]
        if after:
            inject_attention(self, attn_cfg, after)

    def init_weights(self) -> None:
        """mmpretrain's init, then each attention module's own (its paper's, see
        :func:`~se_plugin.models.backbones.base.reset_attention`); not with a
        ``Pretrained`` init."""
        super().init_weights()
        if isinstance(self.init_cfg, dict) and self.init_cfg.get('type') == 'Pretrained':
            return
        reset_attention(self)
