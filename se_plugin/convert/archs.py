"""The convertible architectures: each an :class:`Arch`, the se_plugin model it
becomes and the rules that rename the source's keys to that model's.

timm: every ResNet of its SE / ECA / SK family (``resnet.py``, ``sknet.py`` and the
SENet authors' ``senet.py``) whose blocks ours reproduce; ``NOT_CONVERTIBLE``
names the others and why. mmpretrain: its SE-ResNet / SE-ResNeXt. Each arch has
its config, ``configs/pretrained/<source>/<arch>.py``, whose ``model`` is
:meth:`Arch.model_config`.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional

from .errors import ConversionError
from .rules import MMPRETRAIN_RULES, timm_rules

if TYPE_CHECKING:
    from torch import nn

SOURCES = ('timm', 'mmpretrain')


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


# timm's SEModule (rd_ratio=1/16, rd_divisor=8) and mmpretrain's SELayer (ratio=16, divisor 8)
_SE = dict(type='se_plugin.SELayer', ratio=16, divisor=8)
# ResNet-RS: timm's SEModule(rd_ratio=0.25), widths make_divisible(C / 4, 8)
_SE_RS = dict(type='se_plugin.SELayer', ratio=4, divisor=8)
# the SENet authors' SE (timm's senet.py): width C // 16, no rounding
_SE_LEGACY = dict(type='se_plugin.SELayer', ratio=16, divisor=1)
# timm's EcaModule(channels): kernel from the width (gamma=2, beta=1, odd); its 1-D conv
# has timm's name and shape (se.conv -> attn.conv)
_ECA = dict(type='se_plugin.ECALayer')
_BLOCKS = {
    'basic': {(2, 2, 2, 2): 18, (3, 4, 6, 3): 34},
    'bottleneck': {(3, 4, 6, 3): 50, (3, 4, 23, 3): 101, (3, 8, 36, 3): 152},
}


def _backbone(
    layers: tuple,
    basic: bool = False,
    groups: int = 1,
    width: int = 4,
    stem: str = '7x7',
    stem_width: int = 32,
    avg_down: bool = False,
    attn: Optional[dict] = _SE,
    **options,
) -> dict:
    """Our backbone config for a timm-style ResNet description.

    ``layers``: blocks per stage (a depth of ours, or ``stage_blocks``);
    ``stem``: ``'7x7'``, ``'deep'`` (three 3x3 convs ``w, w, 2w``) or
    ``'tiered'`` (``3w/4, w, 2w``) with ``w = stem_width``; ``options``: our
    backbone arguments that differ from their defaults.
    """
    blocks = _BLOCKS['basic' if basic else 'bottleneck']
    depth = blocks.get(tuple(layers))
    cfg = dict(
        type='se_plugin.SEResNet' if groups == 1 else 'se_plugin.SEResNeXt',
        depth=depth or min(blocks.values()),
        attn_cfg=None if attn is None else dict(attn),
        out_indices=(3,),
    )
    if depth is None:  # the depth picks the block, stage_blocks the counts
        cfg['stage_blocks'] = tuple(layers)
    if groups > 1:
        cfg.update(groups=groups, width_per_group=width)
    if stem != '7x7':
        cfg.update(deep_stem=True, stem_channels=2 * stem_width)
    if stem == 'tiered':
        cfg['deep_stem_channels'] = (3 * (stem_width // 4), stem_width, 2 * stem_width)
    if avg_down:
        cfg['avg_down'] = True
    return dict(cfg, **options)


def _timm(name: str, layers: tuple, body: str = 'resnet', **kwargs) -> Arch:
    """A timm model: ``kwargs`` of :func:`_backbone` (and ``sk`` for the SK bodies)."""
    sk = kwargs.pop('sk', None)
    backbone = _backbone(layers, **kwargs)
    if sk is not None:  # timm's SelectiveKernel: our SKNet, its arguments in `sk`
        backbone.update(type='se_plugin.SKNet', **sk)
    stem = 'deep' if backbone.get('deep_stem') else '7x7'
    rules = timm_rules(
        stem, backbone.get('avg_down', False), backbone.get('stem_pool', 'max'), body
    )
    return Arch(
        source='timm',
        name=name,
        backbone=backbone,
        head_channels=512 if kwargs.get('basic') else 2048,
        rules=rules,
        peer=f'timm.create_model({name!r})',
    )


def _mmpretrain(name: str, depth: int, groups: int = 1, width: int = 4) -> Arch:
    peer = (
        f'mmpretrain SEResNet(depth={depth})'
        if groups == 1
        else f'mmpretrain SEResNeXt(depth={depth}, groups={groups}, width_per_group={width})'
    )
    layers = next(k for k, v in _BLOCKS['bottleneck'].items() if v == depth)
    return Arch(
        source='mmpretrain',
        name=name,
        backbone=_backbone(layers, groups=groups, width=width),
        head_channels=2048,
        rules=MMPRETRAIN_RULES,
        peer=peer + ' (se_ratio=16) in an ImageClassifier with a LinearClsHead',
    )


_D = dict(stem='deep', avg_down=True)  # timm's "d": deep stem 32-32-64, avg-pool shortcuts
_T = dict(stem='tiered', avg_down=True)  # timm's "t": tiered deep stem 24-32-64
_AA = dict(anti_alias='avg')  # timm's "aa": aa_layer=nn.AvgPool2d
_X32x4, _X32x8, _X64x4 = (dict(groups=g, width=w) for g, w in ((32, 4), (32, 8), (64, 4)))
_R26, _R50, _R101, _R152 = (2, 2, 2, 2), (3, 4, 6, 3), (3, 4, 23, 3), (3, 8, 36, 3)
# SENet-154: 64-64-128 deep stem, 3x3 strided shortcuts, first conv of each block at half width
_SENET154 = dict(stem='deep', stem_width=64, down_kernel_size=3, reduce_first=2, **_X64x4)
# timm's senet.py: the SENet authors' Caffe models (stem pool padding 0, ceil mode)
_LEGACY = dict(body='legacy', attn=_SE_LEGACY, stem_pool='max_ceil')
# timm's sknet.py: SelectiveKernel(split_input=True), fuse width make_divisible(C / r, d)
# = max(C / r, L) at these widths
_SK_BASIC = dict(body='sk_basic', basic=True, attn=None)
_SK_BASIC_ARGS = dict(sk_ratio=8, min_channels=16, split_input=True)
_SK = dict(body='sk_bottleneck', attn=None)
_SK_RESNET_ARGS = dict(sk_ratio=16, min_channels=8, split_input=True, groups=1)

_ALL = (
    # timm resnet.py: SE-ResNet / SE-ResNeXt
    _timm('seresnet18', _R26, basic=True),
    _timm('seresnet34', _R50, basic=True),
    _timm('seresnet50', _R50),
    _timm('seresnet50t', _R50, **_T),
    _timm('seresnet101', _R101),
    _timm('seresnet152', _R152),
    _timm('seresnet152d', _R152, **_D),
    _timm('seresnet200d', (3, 24, 36, 3), **_D),
    _timm('seresnet269d', (3, 30, 48, 8), **_D),
    _timm('seresnetaa50d', _R50, **_D, **_AA),
    _timm('seresnext26d_32x4d', _R26, **_X32x4, **_D),
    _timm('seresnext26t_32x4d', _R26, **_X32x4, **_T),
    _timm('seresnext50_32x4d', _R50, **_X32x4),
    _timm('seresnext101_32x4d', _R101, **_X32x4),
    _timm('seresnext101_32x8d', _R101, **_X32x8),
    _timm('seresnext101d_32x8d', _R101, **_X32x8, **_D),
    _timm('seresnext101_64x4d', _R101, **_X64x4),
    _timm('seresnextaa101d_32x8d', _R101, **_X32x8, **_D, **_AA),
    _timm('seresnextaa201d_32x8d', (3, 24, 36, 4), **_X32x8, **_D, **_AA, stem_width=64),
    _timm('senet154', _R152, **_SENET154),
    # timm resnet.py: ECA-ResNet (ecaresnetlight: a 7x7 stem with avg-pool shortcuts)
    _timm('ecaresnet26t', _R26, attn=_ECA, **_T),
    _timm('ecaresnet50d', _R50, attn=_ECA, **_D),
    _timm('ecaresnet50t', _R50, attn=_ECA, **_T),
    _timm('ecaresnetlight', (1, 1, 11, 3), attn=_ECA, avg_down=True),
    _timm('ecaresnet101d', _R101, attn=_ECA, **_D),
    _timm('ecaresnet200d', (3, 24, 36, 3), attn=_ECA, **_D),
    _timm('ecaresnet269d', (3, 30, 48, 8), attn=_ECA, **_D),
    _timm('ecaresnext26t_32x4d', _R26, attn=_ECA, **_X32x4, **_T),
    _timm('ecaresnext50t_32x4d', _R50, attn=_ECA, **_X32x4, **_T),
    # timm resnet.py: ResNet-RS (SE at 1/4, a strided conv for the stem pool)
    *(
        _timm(f'resnetrs{n}', layers, attn=_SE_RS, stem_pool='conv', **_D)
        for n, layers in (
            (50, _R50),
            (101, _R101),
            (152, _R152),
            (200, (3, 24, 36, 3)),
            (270, (4, 29, 53, 4)),
            (350, (4, 36, 72, 4)),
            (420, (4, 44, 87, 4)),
        )
    ),
    # timm sknet.py
    _timm('skresnet18', _R26, **_SK_BASIC, sk=_SK_BASIC_ARGS),
    _timm('skresnet34', _R50, **_SK_BASIC, sk=_SK_BASIC_ARGS),
    _timm('skresnet50', _R50, **_SK, sk=_SK_RESNET_ARGS),
    _timm('skresnet50d', _R50, **_SK, **_D, sk=_SK_RESNET_ARGS),
    _timm('skresnext50_32x4d', _R50, **_SK, **_X32x4, sk=dict(sk_ratio=16, min_channels=32)),
    # timm senet.py (legacy_seresnet: the stride in the first 1x1 conv)
    *(
        _timm(f'legacy_seresnet{n}', layers, **_LEGACY, style='caffe')
        for n, layers in ((50, _R50), (101, _R101), (152, _R152))
    ),
    *(
        _timm(f'legacy_seresnext{n}_32x4d', layers, **_LEGACY, **_X32x4)
        for n, layers in ((26, _R26), (50, _R50), (101, _R101))
    ),
    _timm('legacy_senet154', _R152, **_LEGACY, **_SENET154),
    _mmpretrain('seresnet50', 50),
    _mmpretrain('seresnet101', 101),
    _mmpretrain('seresnet152', 152),
    _mmpretrain('seresnext50_32x4d', 50, 32, 4),
    _mmpretrain('seresnext101_32x4d', 101, 32, 4),
    _mmpretrain('seresnext152_32x4d', 152, 32, 4),
)
#: The family's timm models that do not convert, and why (``get_arch`` says it).
NOT_CONVERTIBLE = {
    'timm': {
        'ecaresnet50d_pruned': 'its convs have per-layer pruned widths (timm reads a channel '
        'list per conv from a file): another network than ECA-ResNet-50-D',
        'ecaresnet101d_pruned': 'its convs have per-layer pruned widths (timm reads a channel '
        'list per conv from a file): another network than ECA-ResNet-101-D',
        'legacy_seresnet18': "the SENet authors' basic block applies a ReLU before its SE "
        'module, which our blocks do not',
        'legacy_seresnet34': "the SENet authors' basic block applies a ReLU before its SE "
        'module, which our blocks do not',
        'seresnet33ts': 'a timm ByobNet (another block layout, SiLU), not a ResNet',
        'seresnext26ts': 'a timm ByobNet (another block layout, SiLU), not a ResNet',
    },
    'mmpretrain': {},
}
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
    if arch in NOT_CONVERTIBLE[source]:
        raise ConversionError(
            f'{source} {arch} does not convert: {NOT_CONVERTIBLE[source][arch]} '
            '(docs/pretrained.md lists what converts)'
        )
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
