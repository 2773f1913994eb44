"""The convertible architectures: each an :class:`Arch`, the se_plugin model it
becomes and the rules that rename the source's keys to that model's."""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional

from .errors import ConversionError

if TYPE_CHECKING:
    from torch import nn

SOURCES = ('timm', 'mmpretrain')
_BN = r'(weight|bias|running_mean|running_var|num_batches_tracked)'


@dataclass(frozen=True)
class Arch:
    """One convertible architecture.

    Attributes:
        source (str): ``'timm'`` or ``'mmpretrain'``.
        name (str): The ``--arch`` name (timm's model name for timm).
        backbone (dict): Config of our backbone.
        head_channels (int): Input channels of the classifier head.
        rules (tuple): ``(pattern, replacement)`` pairs; the first pattern
            that matches a whole source key gives its new name
            (``re.Match.expand`` syntax).
        peer (str): The source model this matches.
    """

    source: str
    name: str
    backbone: dict
    head_channels: int
    rules: tuple
    peer: str

    def model_config(self, num_classes: int = 1000) -> dict:
        """Our ``ImageClassifier`` config for this arch with ``num_classes`` outputs."""
        return dict(
            type='ImageClassifier',
            backbone=copy.deepcopy(self.backbone),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(
                type='LinearClsHead',
                num_classes=num_classes,
                in_channels=self.head_channels,
                loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
                topk=(1, 5) if num_classes >= 5 else (1,),
            ),
        )

    def rename(self, key: str) -> Optional[str]:
        """Our name of a source key, or None if no rule matches it."""
        for pattern, replacement in self.rules:
            match = re.fullmatch(pattern, key)
            if match:
                return match.expand(replacement)
        return None


# Our SE layer, as in timm (rd_ratio=1/16, rd_divisor=8) and mmpretrain (ratio=16, divisor 8).
_SE_CFG = dict(type='se_plugin.SELayer', ratio=16, divisor=8)
# Our ECA layer, as timm's EcaModule(channels): kernel from the width (gamma=2, beta=1,
# odd); the 1-D conv has timm's name and shape (se.conv.weight), so it converts 1:1.
_ECA_CFG = dict(type='se_plugin.ECALayer')


def _backbone(
    depth: int, groups: int = 1, width: int = 4, deep: bool = False, attn_cfg: dict = _SE_CFG
) -> dict:
    cfg = dict(
        type='se_plugin.SEResNet' if groups == 1 else 'se_plugin.SEResNeXt',
        depth=depth,
        attn_cfg=dict(attn_cfg),
        attn_position='standard',
        out_indices=(3,),
        style='pytorch',
    )
    if groups > 1:
        cfg.update(groups=groups, width_per_group=width)
    if deep:  # timm's 'd' variants: 3-conv stem (32, 32, 64) and avg-pool shortcuts
        cfg.update(deep_stem=True, avg_down=True, stem_channels=64)
    return cfg


# timm ResNet keys -> ours. The attention module is timm's `se` and our `attn`; inside it
# the SE layers have the same names (fc1, fc2), and so have the ECA layers (conv).
_TIMM_STEM = (
    (r'conv1\.weight', r'backbone.conv1.weight'),
    (rf'bn1\.{_BN}', r'backbone.bn1.\1'),
)
_TIMM_DEEP_STEM = (
    (r'conv1\.0\.weight', r'backbone.stem.0.conv.weight'),
    (rf'conv1\.1\.{_BN}', r'backbone.stem.0.bn.\1'),
    (r'conv1\.3\.weight', r'backbone.stem.1.conv.weight'),
    (rf'conv1\.4\.{_BN}', r'backbone.stem.1.bn.\1'),
    (r'conv1\.6\.weight', r'backbone.stem.2.conv.weight'),
    (rf'bn1\.{_BN}', r'backbone.stem.2.bn.\1'),
    # timm's avg-down shortcut is always (pool, conv, bn), with an Identity pool
    # at stride 1; mmpretrain's ResLayer leaves the pool out there (conv, bn).
    (r'layer1\.0\.downsample\.1\.weight', r'backbone.layer1.0.downsample.0.weight'),
    (rf'layer1\.0\.downsample\.2\.{_BN}', r'backbone.layer1.0.downsample.1.\1'),
)
_TIMM_BODY = (
    (r'(layer[1-4]\.\d+)\.se\.(.+)', r'backbone.\1.attn.\2'),
    (r'(layer[1-4]\.\d+\..+)', r'backbone.\1'),
    (r'fc\.(weight|bias)', r'head.fc.\1'),
)
# mmpretrain keys -> ours: only the SE layer differs (ConvModules -> plain convs).
_MMPRETRAIN_RULES = (
    (
        r'backbone\.(layer[1-4]\.\d+)\.se_layer\.conv([12])\.conv\.(weight|bias)',
        r'backbone.\1.attn.fc\2.\3',
    ),
    (r'backbone\.(.+)', r'backbone.\1'),
    (r'head\.fc\.(weight|bias)', r'head.fc.\1'),
)


def _timm(
    name: str,
    depth: int,
    groups: int = 1,
    width: int = 4,
    deep: bool = False,
    attn_cfg: dict = _SE_CFG,
) -> Arch:
    stem = _TIMM_DEEP_STEM if deep else _TIMM_STEM
    return Arch(
        source='timm',
        name=name,
        backbone=_backbone(depth, groups, width, deep, attn_cfg),
        head_channels=512 if depth < 50 else 2048,
        rules=stem + _TIMM_BODY,
        peer=f'timm.create_model({name!r})',
    )


# timm SelectiveKernelBottleneck keys -> our SKBlock (SKConv: paths, fuse, select).
_TIMM_SK_BODY = (
    (r'(layer[1-4]\.\d+)\.conv1\.conv\.weight', r'backbone.\1.conv1.weight'),
    (rf'(layer[1-4]\.\d+)\.conv1\.bn\.{_BN}', r'backbone.\1.bn1.\2'),
    (
        r'(layer[1-4]\.\d+)\.conv2\.paths\.(\d+)\.conv\.weight',
        r'backbone.\1.conv2.paths.\2.conv.weight',
    ),
    (rf'(layer[1-4]\.\d+)\.conv2\.paths\.(\d+)\.bn\.{_BN}', r'backbone.\1.conv2.paths.\2.bn.\3'),
    (r'(layer[1-4]\.\d+)\.conv2\.attn\.fc_reduce\.weight', r'backbone.\1.conv2.fuse.conv.weight'),
    (rf'(layer[1-4]\.\d+)\.conv2\.attn\.bn\.{_BN}', r'backbone.\1.conv2.fuse.bn.\2'),
    (r'(layer[1-4]\.\d+)\.conv2\.attn\.fc_select\.weight', r'backbone.\1.conv2.select.weight'),
    (r'(layer[1-4]\.\d+)\.conv3\.conv\.weight', r'backbone.\1.conv3.weight'),
    (rf'(layer[1-4]\.\d+)\.conv3\.bn\.{_BN}', r'backbone.\1.bn3.\2'),
    (
        r'(layer[1-4]\.\d+\.downsample\.[01]\.(weight|bias|running_mean|running_var|num_batches_tracked))',
        r'backbone.\1',
    ),
    (r'fc\.(weight|bias)', r'head.fc.\1'),
)


def _timm_sknet(name: str, depth: int) -> Arch:
    # timm: SelectiveKernel(split_input=False, rd_ratio=1/16, rd_divisor=32), paths
    # 3x3 dilation 1 and 2, fuse conv without bias + BN + ReLU, select conv without
    # bias; fuse width make_divisible(C/16, 32) = max(C/16, 32) for C in 128..1024.
    backbone = dict(
        type='se_plugin.SKNet',
        depth=depth,
        num_paths=2,
        sk_ratio=16,
        min_channels=32,
        groups=32,
        width_per_group=4,
        attn_cfg=None,
        out_indices=(3,),
        style='pytorch',
    )
    return Arch(
        source='timm',
        name=name,
        backbone=backbone,
        head_channels=2048,
        rules=_TIMM_STEM + _TIMM_SK_BODY,
        peer=f'timm.create_model({name!r})',
    )


def _mmpretrain(name: str, depth: int, groups: int = 1, width: int = 4) -> Arch:
    peer = (
        f'mmpretrain SEResNet(depth={depth})'
        if groups == 1
        else f'mmpretrain SEResNeXt(depth={depth}, groups={groups}, width_per_group={width})'
    )
    return Arch(
        source='mmpretrain',
        name=name,
        backbone=_backbone(depth, groups, width),
        head_channels=2048,
        rules=_MMPRETRAIN_RULES,
        peer=peer + ' (se_ratio=16) in an ImageClassifier with a LinearClsHead',
    )


_ALL = (
    _timm('seresnet18', 18),
    _timm('seresnet34', 34),
    _timm('seresnet50', 50),
    _timm('seresnet101', 101),
    _timm('seresnet152', 152),
    _timm('seresnet152d', 152, deep=True),
    _timm('seresnext50_32x4d', 50, 32, 4),
    _timm('seresnext101_32x4d', 101, 32, 4),
    _timm('seresnext101_32x8d', 101, 32, 8),
    _timm('seresnext101d_32x8d', 101, 32, 8, deep=True),
    _timm('seresnext101_64x4d', 101, 64, 4),
    _timm_sknet('skresnext50_32x4d', 50),
    # ECA-ResNet-D (configs/attention/eca_resnet50d_imagenet.py, eca_resnet101d_imagenet.py)
    _timm('ecaresnet50d', 50, deep=True, attn_cfg=_ECA_CFG),
    _timm('ecaresnet101d', 101, deep=True, attn_cfg=_ECA_CFG),
    _mmpretrain('seresnet50', 50),
    _mmpretrain('seresnet101', 101),
    _mmpretrain('seresnet152', 152),
    _mmpretrain('seresnext50_32x4d', 50, 32, 4),
    _mmpretrain('seresnext101_32x4d', 101, 32, 4),
    _mmpretrain('seresnext152_32x4d', 152, 32, 4),
)
#: ``ARCHS[source][name]`` -> :class:`Arch`.
ARCHS: dict = {source: {a.name: a for a in _ALL if a.source == source} for source in SOURCES}


def list_archs(source: Optional[str] = None) -> list:
    """Names of the convertible architectures (of one source, or ``source:name`` of all)."""
    if source is None:
        return [f'{a.source}:{a.name}' for a in _ALL]
    return list(ARCHS[_check_source(source)])


def _check_source(source: Any) -> str:
    if source not in SOURCES:
        raise ConversionError(f'--from must be one of {", ".join(SOURCES)}; got {source!r}')
    return source


def get_arch(source: str, arch: str) -> Arch:
    """The :class:`Arch` named ``arch`` of ``source``, or a ConversionError listing them."""
    archs = ARCHS[_check_source(source)]
    if arch not in archs:
        other = [s for s in SOURCES if s != source and arch in ARCHS[s]]
        hint = f' ({arch!r} is a --from {other[0]} arch)' if other else ''
        raise ConversionError(
            f'unknown --arch {arch!r} for --from {source}{hint}; convertible: {", ".join(archs)}'
        )
    return archs[arch]


def build_model(source: str, arch: str, num_classes: int = 1000) -> nn.Module:
    """Our model for ``arch`` (random weights), built in the se_plugin scope."""
    from se_plugin.models.builder import build_model as build

    return build(get_arch(source, arch).model_config(num_classes))
