"""ResNet-50's attention slots without its convolutions: one module against another, isolated.

In a network the attention is a tenth to a third of a train step; on a shared
machine the step's noise is as large as the differences between two
implementations of one module. :class:`AttentionSlots` keeps what differs
between them and little else: ResNet-50's 16 bottleneck slots (stage widths
256-2048, 3/4/6/3 blocks, at 1/4 ... 1/32 of the input size), each computing
``relu(attend_after_norm(module, z, bn, residual))`` as the block does
(:func:`~se_plugin.models.layers.base.attend_after_norm`: a fused or
recomputed path for se_plugin's modules, ``module(bn(z)) + residual`` for any
other), with the block's convolutions replaced by a 1x1 projection of the
pooled image (3 input channels: about one pass per ``z``), and a linear head
on the stages' pooled outputs. Under autocast the projections and the head
run in the input's dtype (emulated bf16 would make them most of the step)
and each ``z`` is cast to autocast's dtype, as a block's convolution outputs
it. Everything but the modules is the same for every spec, so the
difference of two train steps is the difference of the modules' (norm
included), and the kept memory their activation memory.

Specs (``se_plugin.benchmark.build_model``): ``slots.se_plugin.CBAM:bias=False``
(a registered module, ``key=value`` its arguments), ``slots.timm.cbam`` (timm's
``create_attn`` name, its arguments likewise), ``slots.none`` (the slots
without attention).
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from se_plugin.models.layers.base import attend_after_norm

# ResNet-50's bottleneck stages: (output channels, blocks)
RESNET50_STAGES = ((256, 3), (512, 4), (1024, 6), (2048, 3))


class AttentionSlots(nn.Module):
    """``images -> logits`` through ResNet-50's attention slots (see the module docstring).

    Args:
        build_attention (callable): ``channels -> nn.Module | None``, the
            module of one slot.
        num_classes (int): Classes of the linear head. Default: 1000.
        stages (tuple): ``(channels, blocks)`` per stage, each at half the
            previous one's size. Default: :data:`RESNET50_STAGES`.

    Example:
        >>> import torch
        >>> from se_plugin.models import CBAM
        >>> model = AttentionSlots(lambda c: CBAM(c), num_classes=10, stages=((8, 2), (16, 1)))
        >>> model(torch.rand(2, 3, 32, 32)).shape
        torch.Size([2, 10])
    """

    def __init__(self, build_attention, num_classes: int = 1000, stages=RESNET50_STAGES) -> None:
        super().__init__()
        self.stages = nn.ModuleList()
        for channels, blocks in stages:
            stage = nn.ModuleList()
            for _ in range(blocks):
                block = nn.Module()
                block.proj = nn.Conv2d(3, channels, 1, bias=False)
                block.norm = nn.BatchNorm2d(channels)
                block.attn = build_attention(channels)
                stage.append(block)
            self.stages.append(stage)
        self.head = nn.Linear(sum(c for c, _ in stages), num_classes)

    def forward(self, images: Tensor) -> Tensor:
        device = images.device.type
        amp = torch.is_autocast_enabled(device)
        dtype = torch.get_autocast_dtype(device) if amp else images.dtype
        size = math.ceil(images.shape[2] / 4), math.ceil(images.shape[3] / 4)
        pooled = []
        for stage in self.stages:
            source = F.adaptive_avg_pool2d(images, size)
            x = None
            for block in stage:
                with torch.autocast(device, enabled=False):  # the same cost for every spec
                    z = block.proj(source).to(dtype)  # as a block's conv output under autocast
                x = F.relu(attend_after_norm(block.attn, z, block.norm, x))
            pooled.append(x.mean((2, 3)))
            size = (size[0] + 1) // 2, (size[1] + 1) // 2
        with torch.autocast(device, enabled=False):
            return self.head(torch.cat(pooled, 1).to(images.dtype))


def _attention_builder(name: str, kwargs: dict):
    """``channels -> module`` for ``se_plugin.X`` / ``timm.x`` / ``none`` (a slots spec's name)."""
    scope, _, type_name = name.partition('.')
    if name == 'none' and not kwargs:
        return lambda channels: None
    if scope == 'timm' and type_name:
        try:
            from timm.layers import get_attn
        except ImportError:
            raise ValueError(
                f'slots.{name}: timm is not installed (pip install timm); it is an optional peer'
            ) from None
        try:
            layer = get_attn(type_name)
        except AssertionError:  # timm asserts on names it does not know
            layer = None
        if layer is None:
            raise ValueError(f'timm has no attention layer {type_name!r} (timm.layers.get_attn)')
        return lambda channels: layer(channels, **kwargs)
    if scope in ('se_plugin', 'mmpretrain') and type_name:
        from se_plugin.registry import MODELS

        if MODELS.get(name) is None:
            raise ValueError(f'no registered attention module {name!r}')
        return lambda channels: MODELS.build(dict(kwargs, type=name, in_channels=channels))
    raise ValueError(
        f'slots spec {name!r}: expected slots.none, slots.se_plugin.NAME (a registered module) '
        'or slots.timm.NAME (a timm attention layer)'
    )


def build_slots(name: str, kwargs: dict, num_classes: int = 1000) -> AttentionSlots:
    """The :class:`AttentionSlots` of a spec's ``name`` (after ``slots.``) and arguments."""
    return AttentionSlots(_attention_builder(name, kwargs), num_classes)


__all__ = ['RESNET50_STAGES', 'AttentionSlots', 'build_slots']
