"""Every registered module and backbone treats each kind of argument alike.

One table (``SPECS``) names, for each se_plugin model in the registry, its
arguments by kind (counts, ratios, rates, finite reals, switches, closed
sets, per-stage int tuples, conv/norm/activation configs, the attention slot's config). From it,
for every argument of a kind, the same bad values give the same error type
with the one message shape of :mod:`se_plugin.checks`
(``<name>[...] must be <allowed>, got <value>``, one line), and numpy numbers
and bools build the same module as Python's, leaving no numpy value in it.
A registered layer, block or backbone missing from the table fails
:func:`test_every_registered_model_is_covered`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np
import pytest
from torch import nn

from se_plugin.registry import MODELS

SE = 'se_plugin.SELayer'


@dataclass
class Spec:
    """A model's arguments by kind, each with a valid value (``choices``: a bad one)."""

    build: Callable[..., nn.Module]
    ints: dict = field(default_factory=dict)
    positives: dict = field(default_factory=dict)
    fractions: dict = field(default_factory=dict)
    reals: dict = field(default_factory=dict)
    bools: dict = field(default_factory=dict)
    int_tuples: dict = field(default_factory=dict)  # one int per stage
    choices: dict = field(default_factory=dict)
    configs: tuple = ()  # of 'conv_cfg', 'norm_cfg', 'act_cfg'
    slot: Optional[tuple] = None  # (argument, its config, the slot's width, other kwargs)


def _builder(name: str, **base) -> Callable[..., nn.Module]:
    def build(**kwargs):
        return MODELS.build(dict(base, type=f'se_plugin.{name}', **kwargs))

    return build


def _layer(name: str, **spec) -> Spec:
    ints = dict(in_channels=16, **spec.pop('ints', {}))
    return Spec(_builder(name, in_channels=16), ints=ints, **spec)


BLOCK_KINDS = dict(
    fractions=dict(drop_path_rate=0.25),
    bools=dict(with_cp=True),
    configs=('conv_cfg', 'norm_cfg', 'act_cfg'),
)
SK_BLOCK_KINDS = dict(BLOCK_KINDS, bools=dict(with_cp=True, split_input=True))
SMALL_RESNET = dict(stem_channels=8, base_channels=8)
RESNET_KINDS = dict(
    ints=dict(
        in_channels=3,
        stem_channels=8,
        base_channels=8,
        num_stages=4,
        frozen_stages=1,
        down_kernel_size=3,
        reduce_first=2,
    ),
    fractions=dict(drop_path_rate=0.25),
    bools=dict(
        deep_stem=True, avg_down=True, norm_eval=True, with_cp=True, zero_init_residual=False
    ),
    int_tuples=dict(stage_blocks=(1, 1, 2, 1), strides=(1, 2, 2, 1), dilations=(1, 1, 1, 2)),
    choices=dict(
        attn_position='middle',
        stem_type='tiny',
        style='keras',
        depth=19,
        stem_pool='avg',
        anti_alias='blur',
    ),
    configs=('conv_cfg', 'norm_cfg'),
    # one stage with attention: every block there has the slot's width
    slot=('attn_cfg', dict(type=SE, ratio=2), 8, dict(attn_stages=(True, False, False, False))),
)
SMALL_RESNEXT = dict(SMALL_RESNET, groups=2, width_per_group=2)
RESNEXT_INTS = dict(RESNET_KINDS['ints'], groups=2, width_per_group=2)
TINY_DENSENET = dict(growth_rate=4, depths=[1, 1], init_channels=8)

SPECS = {
    'SELayer': _layer(
        'SELayer',
        ints=dict(divisor=8, squeeze_channels=4),
        positives=dict(ratio=4),
        bools=dict(bias=False, return_weight=True),
        choices=dict(squeeze='mean', impl='cuda'),
        configs=('conv_cfg', 'act_cfg'),
    ),
    'ECALayer': _layer(
        'ECALayer',
        ints=dict(kernel_size=3),
        positives=dict(gamma=2),
        reals=dict(beta=-1),
        choices=dict(impl='cuda'),
        configs=('act_cfg',),
    ),
    'EffectiveSELayer': _layer(
        'EffectiveSELayer',
        bools=dict(bias=False),
        choices=dict(squeeze='mean', impl='cuda'),
        configs=('conv_cfg', 'act_cfg'),
    ),
    'CBAM': _layer(
        'CBAM',
        ints=dict(divisor=2, squeeze_channels=4, spatial_kernel_size=3),
        positives=dict(ratio=4),
        bools=dict(bias=False),
        choices=dict(impl='cuda'),
        configs=('norm_cfg', 'act_cfg'),
    ),
    'GatherExcite': _layer(
        'GatherExcite',
        ints=dict(divisor=2),
        positives=dict(ratio=4),
        choices=dict(variant='theta+', extent=3, impl='fused'),
        configs=('norm_cfg', 'act_cfg'),
    ),
    'GlobalContext': _layer(
        'GlobalContext',
        positives=dict(ratio=0.25),
        bools=dict(zero_init_last=False),
        choices=dict(fusion='mul', pooling='max', impl='cuda'),
        configs=('act_cfg',),
    ),
    'CoordAttention': _layer(
        'CoordAttention',
        ints=dict(reduction=4, min_channels=4),
        bools=dict(bias=False),
        choices=dict(impl='cuda'),
        configs=('norm_cfg', 'act_cfg'),
    ),
    'SimAM': _layer('SimAM', positives=dict(e_lambda=0.5), choices=dict(impl='cuda')),
    'SRMLayer': _layer('SRMLayer', choices=dict(impl='fused'), configs=('norm_cfg',)),
    'SKConv': Spec(
        _builder('SKConv', in_channels=8, out_channels=8, groups=2, min_channels=4),
        ints=dict(
            in_channels=8,
            out_channels=8,
            stride=2,
            num_paths=3,
            groups=2,
            min_channels=4,
            dilation=2,
        ),
        positives=dict(ratio=4),
        bools=dict(split_input=True),
        choices=dict(select='max', impl='reference2'),
        configs=('conv_cfg', 'norm_cfg', 'act_cfg'),
    ),
    'SEBasicBlock': Spec(
        _builder('SEBasicBlock', in_channels=8, out_channels=8),
        ints=dict(in_channels=8, out_channels=8, dilation=2, expansion=1, reduce_first=2),
        choices=dict(attn_position='middle', style='keras', anti_alias='blur'),
        slot=('attn_cfg', dict(type=SE, ratio=2), 8, {}),
        **BLOCK_KINDS,
    ),
    'SEBottleneck': Spec(
        _builder('SEBottleneck', in_channels=32, out_channels=32, base_channels=8),
        ints=dict(
            in_channels=32,
            out_channels=32,
            groups=2,
            width_per_group=2,
            dilation=2,
            reduce_first=2,
        ),
        choices=dict(attn_position='middle', style='keras', anti_alias='blur'),
        slot=('attn_cfg', dict(type=SE, ratio=2), 8, dict(attn_position='after_conv2')),
        **BLOCK_KINDS,
    ),
    'SKBlock': Spec(
        _builder(
            'SKBlock',
            in_channels=32,
            out_channels=32,
            groups=2,
            width_per_group=4,
            base_channels=8,
            min_channels=4,
        ),
        ints=dict(
            num_paths=3,
            min_channels=4,
            groups=2,
            width_per_group=4,
            base_channels=8,
            reduce_first=2,
        ),
        positives=dict(sk_ratio=4),
        # an SK block takes no anti-aliasing: any mode is refused
        choices=dict(sk_select='max', attn_position='middle', style='keras', anti_alias='avg'),
        slot=('attn_cfg', dict(type=SE, ratio=2), 32, {}),
        **SK_BLOCK_KINDS,
    ),
    'SKBasicBlock': Spec(
        _builder('SKBasicBlock', in_channels=8, out_channels=8, min_channels=4),
        ints=dict(
            in_channels=8, out_channels=8, num_paths=3, min_channels=4, groups=2, reduce_first=2
        ),
        positives=dict(sk_ratio=4),
        choices=dict(sk_select='max', attn_position='middle', style='keras', anti_alias='avg'),
        slot=('attn_cfg', dict(type=SE, ratio=2), 8, {}),
        **SK_BLOCK_KINDS,
    ),
    'SEResNet': Spec(_builder('SEResNet', depth=18, **SMALL_RESNET), **RESNET_KINDS),
    'SEResNeXt': Spec(
        _builder('SEResNeXt', depth=50, **SMALL_RESNEXT),
        **dict(
            RESNET_KINDS,
            ints=RESNEXT_INTS,
            choices=dict(RESNET_KINDS['choices'], depth=18),
            # the first stage is 8 * 4 wide
            slot=('attn_cfg', dict(type=SE, ratio=2), 32, dict(attn_stages=(True,) + (False,) * 3)),
        ),
    ),
    'SKNet': Spec(
        _builder('SKNet', depth=26, min_channels=4, **SMALL_RESNEXT),
        **dict(
            RESNET_KINDS,
            ints=dict(RESNEXT_INTS, num_paths=3, min_channels=4),
            positives=dict(sk_ratio=4),
            bools=dict(RESNET_KINDS['bools'], split_input=True),
            choices=dict(RESNET_KINDS['choices'], depth=19, sk_select='max'),
            slot=('attn_cfg', dict(type=SE, ratio=2), 32, dict(attn_stages=(True,) + (False,) * 3)),
        ),
    ),
    'SEDenseNet': Spec(
        _builder('SEDenseNet', arch=TINY_DENSENET),
        ints=dict(in_channels=3, bn_size=2, frozen_stages=1),
        positives=dict(compression_factor=0.5),
        fractions=dict(drop_rate=0.25),
        bools=dict(memory_efficient=True),
        choices=dict(arch='122'),
        configs=('norm_cfg', 'act_cfg'),
        slot=('attn_cfg', dict(type=SE, ratio=2), 10, {}),  # the last dense block's width
    ),
    'AttentionInjected': Spec(
        _builder('AttentionInjected', backbone=dict(type='ResNet', depth=18), after='layer1.0.bn2'),
        slot=('attention', dict(type=SE, ratio=2), 64, {}),
    ),
}

BAD_NORMS = [
    (dict(type='GN'), ValueError),  # no num_groups: mmcv's empty AssertionError
    (dict(type='GN', num_groups=7), ValueError),  # divides no width of these models
    (dict(type='GN', num_groups=True), TypeError),
    (dict(type='LN'), ValueError),  # nn.LayerNorm normalises the last axis
    (dict(type='NoSuchNorm'), ValueError),
    ('BN', TypeError),
]
BAD_CONVS = [
    (dict(type='Conv3d'), ValueError),
    (dict(type='ConvTranspose2d'), ValueError),
    (dict(type='NoSuchConv'), ValueError),
    ('Conv2d', TypeError),
]
BAD_ACTS = [(dict(type='NoSuchAct'), ValueError), ('ReLU', TypeError)]


def _bad_cases():
    for model, spec in SPECS.items():
        groups = [
            (spec.ints, [(True, TypeError), (2.5, TypeError), (np.float64(2.0), TypeError)]),
            (
                spec.positives,
                [(True, TypeError), ('4', TypeError), (0, ValueError), (-1, ValueError)]
                + [(math.nan, ValueError), (math.inf, ValueError), (np.float32('nan'), ValueError)],
            ),
            (
                spec.fractions,
                [(True, TypeError), (-0.5, ValueError), (1.0, ValueError)]
                + [(math.nan, ValueError), (np.float64(math.inf), ValueError)],
            ),
            (spec.reals, [(False, TypeError), (None, TypeError), (math.nan, ValueError)]),
            (spec.bools, [(1, TypeError), ('yes', TypeError), (None, TypeError)]),
            (
                spec.int_tuples,
                [(6, TypeError), ((1, 1, 1), ValueError), ((1, 2.5, 1, 1), TypeError)]
                + [((1, True, 1, 1), TypeError), ((1, 0, 1, 1), ValueError)],
            ),
        ]
        for arguments, values in groups:
            for name in arguments:
                for value, error in values:
                    yield model, name, {name: value}, error
        for name, value in spec.choices.items():
            yield model, name, {name: value}, ValueError
        bad_configs = dict(norm_cfg=BAD_NORMS, conv_cfg=BAD_CONVS, act_cfg=BAD_ACTS)
        for name in spec.configs:
            for value, error in bad_configs[name]:
                yield model, name, {name: value}, error
        if spec.slot:
            name, cfg, width, extra = spec.slot
            for given, error in ((width * 2, ValueError), (True, TypeError)):
                yield model, name, dict(extra, **{name: dict(cfg, in_channels=given)}), error


def _good_cases():
    """Numpy values of the valid ones, and configs that must build."""
    for model, spec in SPECS.items():
        for name, value in {**spec.ints, **spec.positives, **spec.fractions, **spec.reals}.items():
            numpy = np.int64(value) if isinstance(value, int) else np.float32(value)
            yield model, name, {name: numpy}, {name: numpy.item()}
            if isinstance(value, float):
                yield model, name, {name: np.float64(value)}, {name: value}
        for name, value in spec.bools.items():
            yield model, name, {name: np.bool_(value)}, {name: value}
        for name, value in spec.int_tuples.items():
            yield model, name, {name: tuple(np.int64(v) for v in value)}, {name: value}
        if 'norm_cfg' in spec.configs:
            gn = dict(type='GN', num_groups=np.int64(1))
            yield model, 'norm_cfg', {'norm_cfg': gn}, {'norm_cfg': dict(gn, num_groups=1)}
        if spec.slot:
            name, cfg, width, extra = spec.slot
            given = dict(extra, **{name: dict(cfg, in_channels=np.int64(width))})
            yield model, name, given, dict(extra, **{name: cfg})


def _params(cases) -> list:
    return [pytest.param(*case, id=f'{case[0]}-{case[1]}={case[2][case[1]]!r}') for case in cases]


MESSAGE = r'{name}(\[[^\]]*\])* must be .+, got .+'


@pytest.mark.parametrize('model, name, kwargs, error', _params(_bad_cases()))
def test_bad_values_are_one_line_errors_of_one_shape(model, name, kwargs, error):
    with pytest.raises((ValueError, TypeError)) as info:
        SPECS[model].build(**kwargs)
    message = str(info.value)
    assert isinstance(info.value, error), f'{type(info.value).__name__}: {message}'
    assert '\n' not in message
    assert re.fullmatch(MESSAGE.format(name=re.escape(name)), message), message


def _numpy_values(module: nn.Module) -> list:
    found = []
    for path, sub in module.named_modules():
        for key, value in vars(sub).items():
            values = value if isinstance(value, (tuple, list)) else (value,)
            if any(isinstance(v, np.generic) for v in values):
                found.append(f'{path or type(module).__name__}.{key}={value!r}')
    return found


@pytest.mark.parametrize('model, name, kwargs, python', _params(_good_cases()))
def test_numpy_values_build_the_python_module(model, name, kwargs, python):
    built = SPECS[model].build(**kwargs)
    assert repr(built) == repr(SPECS[model].build(**python))
    assert _numpy_values(built) == []


def test_every_registered_model_is_covered():
    """Every registered layer, block, backbone and the injector has its row in ``SPECS``."""
    import se_plugin.models  # noqa: F401  (registers them)

    packages = (
        'se_plugin.models.layers.',
        'se_plugin.models.backbones.',
        'se_plugin.models.inject',
    )
    ours = {
        name
        for name, obj in MODELS.module_dict.items()
        if getattr(obj, '__module__', '').startswith(packages)
    }
    assert ours == set(SPECS)
