"""Key-renaming rules: the sources' state-dict key names -> ours.

A rule is ``(pattern, replacement)``; :meth:`~se_plugin.convert.archs.Arch.rename`
gives a key the replacement of the first pattern that matches it whole
(``re.Match.expand`` syntax). :func:`timm_rules` composes an arch's rules from
what its model has: the stem, the shortcut of the first stage, the stem pool
and the kind of block.
"""

from __future__ import annotations

_BN = r'(weight|bias|running_mean|running_var|num_batches_tracked)'
_BLOCK = r'(layer[1-4]\.\d+)'
_HEAD = ((r'fc\.(weight|bias)', r'head.fc.\1'),)

#: the stem kinds of :func:`timm_rules`
STEMS = ('7x7', 'deep')
#: the block kinds of :func:`timm_rules`: timm's ResNet blocks (SE and ECA as ``se``),
#: its SK bottleneck and SK basic block, and the SENet authors' blocks (timm's senet.py)
BODIES = ('resnet', 'sk_bottleneck', 'sk_basic', 'legacy')

# timm's 7x7 stem is ours with `backbone.` in front
_STEM_7X7 = (
    (r'conv1\.weight', r'backbone.conv1.weight'),
    (rf'bn1\.{_BN}', r'backbone.bn1.\1'),
)
# timm's deep stem: Sequential(conv, bn, act, conv, bn, act, conv) + bn1; ours: three
# ConvModules (conv, bn)
_STEM_DEEP = (
    (r'conv1\.0\.weight', r'backbone.stem.0.conv.weight'),
    (rf'conv1\.1\.{_BN}', r'backbone.stem.0.bn.\1'),
    (r'conv1\.3\.weight', r'backbone.stem.1.conv.weight'),
    (rf'conv1\.4\.{_BN}', r'backbone.stem.1.bn.\1'),
    (r'conv1\.6\.weight', r'backbone.stem.2.conv.weight'),
    (rf'bn1\.{_BN}', r'backbone.stem.2.bn.\1'),
)
# timm's avg-down shortcut is always (pool, conv, bn), with an Identity pool at stride 1
# (the first stage); ours (mmpretrain's) leaves the pool out there: (conv, bn)
_AVG_DOWN_FIRST_STAGE = (
    (r'layer1\.0\.downsample\.1\.weight', r'backbone.layer1.0.downsample.0.weight'),
    (rf'layer1\.0\.downsample\.2\.{_BN}', r'backbone.layer1.0.downsample.1.\1'),
)
# stem_pool='conv' (ResNet-RS): timm's Sequential(conv, bn, act); ours a ConvModule
_STEM_POOL_CONV = (
    (r'maxpool\.0\.weight', r'backbone.maxpool.conv.weight'),
    (rf'maxpool\.1\.{_BN}', r'backbone.maxpool.bn.\1'),
)
# timm's SE / ECA module is its block's `se`, ours `attn`, with the same inner names
_RESNET_BODY = (
    (rf'{_BLOCK}\.se\.(.+)', r'backbone.\1.attn.\2'),
    (r'(layer[1-4]\.\d+\..+)', r'backbone.\1'),
)


def _sk_conv(conv: str) -> tuple:
    """timm's SelectiveKernel ``conv`` -> our SKConv: paths the same,
    attn.fc_reduce/bn/fc_select -> fuse.conv/fuse.bn/select."""
    return (
        (
            rf'{_BLOCK}\.{conv}\.paths\.(\d+)\.conv\.weight',
            rf'backbone.\1.{conv}.paths.\2.conv.weight',
        ),
        (rf'{_BLOCK}\.{conv}\.paths\.(\d+)\.bn\.{_BN}', rf'backbone.\1.{conv}.paths.\2.bn.\3'),
        (rf'{_BLOCK}\.{conv}\.attn\.fc_reduce\.weight', rf'backbone.\1.{conv}.fuse.conv.weight'),
        (rf'{_BLOCK}\.{conv}\.attn\.bn\.{_BN}', rf'backbone.\1.{conv}.fuse.bn.\2'),
        (rf'{_BLOCK}\.{conv}\.attn\.fc_select\.weight', rf'backbone.\1.{conv}.select.weight'),
    )


def _conv_bn(i: int) -> tuple:
    """timm's ConvNormAct ``conv{i}.conv`` / ``.bn`` -> mmpretrain's ``conv{i}`` / ``bn{i}``."""
    return (
        (rf'{_BLOCK}\.conv{i}\.conv\.weight', rf'backbone.\1.conv{i}.weight'),
        (rf'{_BLOCK}\.conv{i}\.bn\.{_BN}', rf'backbone.\1.bn{i}.\2'),
    )


_SK_DOWNSAMPLE = ((rf'({_BLOCK}\.downsample\.\d\.{_BN})', r'backbone.\1'),)
_SK_BOTTLENECK_BODY = _conv_bn(1) + _sk_conv('conv2') + _conv_bn(3) + _SK_DOWNSAMPLE
_SK_BASIC_BODY = _sk_conv('conv1') + _conv_bn(2) + _SK_DOWNSAMPLE


# timm's senet.py (the SENet authors' Caffe weights): the stem is `layer0`, the SE module
# `se_module`, the head `last_linear`
_LEGACY_STEM_7X7 = (
    (r'layer0\.conv1\.weight', r'backbone.conv1.weight'),
    (rf'layer0\.bn1\.{_BN}', r'backbone.bn1.\1'),
)
_LEGACY_STEM_DEEP = tuple(
    rule
    for i in (1, 2, 3)
    for rule in (
        (rf'layer0\.conv{i}\.weight', rf'backbone.stem.{i - 1}.conv.weight'),
        (rf'layer0\.bn{i}\.{_BN}', rf'backbone.stem.{i - 1}.bn.\1'),
    )
)
_LEGACY_BODY = (
    (rf'{_BLOCK}\.se_module\.(fc[12])\.(weight|bias)', r'backbone.\1.attn.\2.\3'),
    (r'(layer[1-4]\.\d+\..+)', r'backbone.\1'),
)
_LEGACY_HEAD = ((r'last_linear\.(weight|bias)', r'head.fc.\1'),)

# mmpretrain keys -> ours: only the SE layer differs (ConvModules -> plain convs)
MMPRETRAIN_RULES = (
    (
        r'backbone\.(layer[1-4]\.\d+)\.se_layer\.conv([12])\.conv\.(weight|bias)',
        r'backbone.\1.attn.fc\2.\3',
    ),
    (r'backbone\.(.+)', r'backbone.\1'),
    (r'head\.fc\.(weight|bias)', r'head.fc.\1'),
)


def timm_rules(
    stem: str = '7x7', avg_down: bool = False, stem_pool: str = 'max', body: str = 'resnet'
) -> tuple:
    """The rules that rename a timm model's keys to ours.

    Args:
        stem (str): ``'7x7'`` or ``'deep'`` (three 3x3 convs, any widths).
            Default: '7x7'.
        avg_down (bool): The average-pool shortcut (timm's ``avg_down``):
            the first stage's ``downsample`` has no pool in ours. Default: False.
        stem_pool (str): Our ``stem_pool``; ``'conv'`` has parameters.
            Default: 'max'.
        body (str): One of ``BODIES``. Default: 'resnet'.

    Example:
        >>> from se_plugin.convert.archs import Arch
        >>> rules = timm_rules('deep', avg_down=True)
        >>> arch = Arch('timm', 'x', {}, 2048, rules, 'x')
        >>> arch.rename('layer1.0.downsample.2.weight'), arch.rename('layer2.1.se.fc1.bias')
        ('backbone.layer1.0.downsample.1.weight', 'backbone.layer2.1.attn.fc1.bias')
    """
    if stem not in STEMS or body not in BODIES:
        raise ValueError(f'stem must be one of {STEMS} and body one of {BODIES}: {stem}, {body}')
    if body == 'legacy':
        stem_rules = _LEGACY_STEM_7X7 if stem == '7x7' else _LEGACY_STEM_DEEP
        return stem_rules + _LEGACY_BODY + _LEGACY_HEAD
    rules = _STEM_7X7 if stem == '7x7' else _STEM_DEEP
    rules += _AVG_DOWN_FIRST_STAGE if avg_down else ()
    rules += _STEM_POOL_CONV if stem_pool == 'conv' else ()
    body_rules = {
        'resnet': _RESNET_BODY,
        'sk_bottleneck': _SK_BOTTLENECK_BODY,
        'sk_basic': _SK_BASIC_BODY,
    }[body]
    return rules + body_rules + _HEAD
