"""Property-based tests: bad layer/backbone arguments give a clear error, never a crash.

For every generated argument set, the module either builds and runs a
forward pass on a tiny input (train and eval mode), or raises ValueError or
TypeError with a message. An AssertionError, ZeroDivisionError, KeyError,
AttributeError, IndexError or RuntimeError from deep inside
torch/mmcv/mmpretrain fails the test.

Each example starts from a valid argument set (tiny widths, every valid
choice reachable) and replaces up to two arguments with bad values (wrong
types, zero/negative/non-finite numbers, unknown names, wrong-length tuples),
so that bad values are met both alone and in pairs, deep inside otherwise
working builds. Valid numbers and switches come as Python values and as numpy
scalars (``np.int64``, ``np.float32``, ``np.bool_``, accepted alike); bools and
numpy bools are among the bad counts and ratios. ``derandomize=True``: the same
examples on every run.
"""

import math
import numbers

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from se_plugin.models import SEBasicBlock, SEBottleneck, SELayer, SEResNet, SEResNeXt, SKConv, SKNet

FUZZ = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,
)
CLEAR_ERRORS = (ValueError, TypeError)

# --- value strategies -------------------------------------------------------


def ints(low, high):
    """Ints in [low, high], as Python ints and as numpy ints."""
    return st.one_of(st.integers(low, high), st.integers(low, high).map(np.int64))


def floats(low, high):
    """Floats in [low, high], as Python floats and as numpy float32/float64."""
    values = st.floats(low, high)
    return st.one_of(values, values.map(np.float64), values.map(np.float32))


def as_int(value, default=1):
    """``value`` as an int where it is a usable positive count (to size a test input)."""
    ok = isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))
    return int(value) if ok and value > 0 else default


bools = st.one_of(st.booleans(), st.booleans().map(np.bool_))
junk = st.one_of(
    st.none(),
    st.booleans(),
    st.booleans().map(np.bool_),
    st.text(max_size=4),
    st.sampled_from([math.nan, math.inf, -math.inf, 2.5, 1e30]),
    st.lists(st.integers(-2, 4), max_size=3),
    st.just({'type': 'ReLU'}),
    st.just(object()),
)
bad_ints = st.one_of(
    st.integers(-3, 0),
    st.integers(-3, 0).map(np.int64),
    st.sampled_from([2.0, 1e9, np.float64(2.0), np.float32(4.0)]),
    junk,
)
bad_numbers = st.one_of(
    st.sampled_from([0, -1, 0.0, -0.5, math.nan, math.inf, 1e-12]),
    st.sampled_from([np.float32(math.nan), np.float64(-math.inf), np.int64(0), np.float32(-1)]),
    junk,
)
bad_bools = st.sampled_from([0, 1, 'yes', None, np.int64(1), np.float32(0.0)])
bad_names = st.one_of(st.sampled_from(['', 'Standard', 'middle', 'relu', 'NoSuch']), junk)

HIDDEN = ['ReLU', 'ReLU6', 'LeakyReLU', 'PReLU', 'ELU', 'GELU', 'SiLU', 'Swish', 'HSwish']
GATES = ['Sigmoid', 'HSigmoid', 'Tanh', 'ReLU']
hidden_act = st.sampled_from(HIDDEN).map(lambda t: dict(type=t))
gate_act = st.sampled_from(GATES).map(lambda t: dict(type=t))
bad_act = st.one_of(
    st.sampled_from(['Softmax', 'relu', 'NoSuchAct', '', 'Conv2d']).map(lambda t: dict(type=t)),
    st.sampled_from(HIDDEN).map(lambda t: dict(type=t, bogus=1)),
    st.just(dict(inplace=True)),
    junk,
)
bad_se_act = st.one_of(
    bad_act,
    st.tuples(hidden_act, bad_act),
    st.tuples(bad_act, gate_act),
    st.tuples(gate_act, hidden_act, gate_act),
    st.just(()),
)
conv_cfgs = st.sampled_from([None, dict(type='Conv2d'), dict(type='Conv')])
norm_cfgs = st.sampled_from(
    [dict(type='BN'), dict(type='GN', num_groups=1), dict(type='BN', momentum=0.2)]
)
bad_layer_cfgs = st.one_of(
    st.sampled_from(
        [
            dict(type='NoSuchLayer'),
            dict(kind='BN'),
            dict(type=''),
            dict(type=3),
            dict(type='mmx.Conv'),
        ]
    ),
    junk,
)
bad_norm_cfgs = st.one_of(
    st.sampled_from(
        [
            dict(type='GN'),
            dict(type='GN', num_groups=3),
            dict(type='GN', num_groups=True),
            dict(type='LN'),
            dict(type='BN3d'),
        ]
    ),
    bad_layer_cfgs,
)
se_cfgs = st.one_of(
    st.none(),
    st.floats(2, 8).map(lambda r: dict(type='se_plugin.SELayer', ratio=r, divisor=1)),
    st.integers(1, 2).map(lambda s: dict(type='se_plugin.SELayer', squeeze_channels=s)),
    st.tuples(hidden_act, gate_act).map(
        lambda a: dict(type='se_plugin.SELayer', ratio=4, divisor=1, act_cfg=a)
    ),
)
bad_se_cfgs = st.one_of(
    st.sampled_from(
        [dict(type='NoSuchLayer'), dict(ratio=4), dict(type='se_plugin.SELayer', ratio=0)]
    ),
    bad_numbers.map(lambda r: dict(type='se_plugin.SELayer', ratio=r)),
    bad_se_act.map(lambda a: dict(type='se_plugin.SELayer', act_cfg=a)),
    junk,
)


def bad_tuples(length, element=st.integers(-1, 3)):
    return st.one_of(
        st.lists(element, min_size=0, max_size=6).filter(lambda v: len(v) != length).map(tuple),
        st.lists(st.sampled_from([0, -1, 1.0, None, True]), min_size=length, max_size=length).map(
            tuple
        ),
        junk,
    )


@st.composite
def arguments(draw, valid: dict, bad: dict, max_bad: int = 2):
    """A valid argument dict with up to ``max_bad`` entries replaced by bad values."""
    args = {name: draw(strategy) for name, strategy in valid.items()}
    corrupt = draw(st.lists(st.sampled_from(sorted(bad)), max_size=max_bad, unique=True))
    for name in corrupt:
        args[name] = draw(bad[name])
    return args


def _check(build, make_input):
    """Build; if that works, run forward in train (batch 2) and eval mode."""
    try:
        module = build()
    except CLEAR_ERRORS as err:
        assert str(err), 'an error needs a message'
        return None
    x = make_input()
    module.train()
    with torch.no_grad():
        module(torch.cat([x, x.flip(0) + 0.5]))
    module.eval()
    with torch.no_grad():
        return module(x)


# --- SELayer ---------------------------------------------------------------------

SE_LAYER_VALID = dict(
    in_channels=ints(1, 32),
    ratio=st.one_of(floats(0.25, 64), ints(1, 64)),
    squeeze_channels=st.one_of(st.none(), st.none(), ints(1, 40)),
    divisor=ints(1, 16),
    bias=bools,
    squeeze=st.sampled_from(['avg', 'max', 'avgmax']),
    act_cfg=st.one_of(st.tuples(hidden_act, gate_act), st.just(dict(type='ReLU'))),
    conv_cfg=conv_cfgs,
    return_weight=bools,
)
SE_LAYER_BAD = dict(
    in_channels=bad_ints,
    ratio=bad_numbers,
    squeeze_channels=bad_ints,
    divisor=bad_ints,
    squeeze=bad_names,
    act_cfg=bad_se_act,
    conv_cfg=bad_layer_cfgs,
    bias=bad_bools,
    return_weight=bad_bools,
)


@FUZZ
@given(args=arguments(SE_LAYER_VALID, SE_LAYER_BAD))
def test_se_layer(args):
    c = args['in_channels']
    out = _check(lambda: SELayer(**args), lambda: torch.rand(1, as_int(c), 3, 3))
    if out is not None:
        assert out.shape == ((1, c, 1, 1) if args['return_weight'] else (1, c, 3, 3))


# --- SKConv ----------------------------------------------------------------------

SK_VALID = dict(
    groups=st.sampled_from([1, 2, 4]),
    in_mult=st.integers(1, 6),
    out_mult=st.integers(1, 6),
    stride=ints(1, 3),
    num_paths=ints(1, 4),
    ratio=st.one_of(floats(0.5, 32), ints(1, 32)),
    min_channels=ints(1, 16),
    dilation=ints(1, 3),
    conv_cfg=conv_cfgs,
    norm_cfg=st.one_of(norm_cfgs, st.none()),
    act_cfg=hidden_act,
)
SK_BAD = dict(
    in_channels=bad_ints,
    out_channels=bad_ints,
    stride=bad_ints,
    num_paths=bad_ints,
    groups=st.one_of(bad_ints, st.integers(3, 7)),
    ratio=bad_numbers,
    min_channels=bad_ints,
    dilation=bad_ints,
    conv_cfg=bad_layer_cfgs,
    norm_cfg=bad_norm_cfgs,
    act_cfg=bad_act,
)


@FUZZ
@given(args=arguments(SK_VALID, SK_BAD))
def test_sk_conv(args):
    groups = args['groups']
    in_mult, out_mult = args.pop('in_mult'), args.pop('out_mult')
    if as_int(groups, 0) > 0:
        args.setdefault('in_channels', groups * in_mult)
        args.setdefault('out_channels', groups * out_mult)
    else:
        args.setdefault('in_channels', 4)
        args.setdefault('out_channels', 4)
    c = args['in_channels']
    out = _check(lambda: SKConv(**args), lambda: torch.rand(1, as_int(c), 5, 5))
    if out is not None:
        assert out.shape[:2] == (1, args['out_channels'])


# --- SEBasicBlock / SEBottleneck ----------------------------------------------------

BLOCK_VALID = dict(
    bottleneck=st.booleans(),
    planes=st.integers(1, 8),
    stride=ints(1, 2),
    grow=st.booleans(),
    attn_cfg=se_cfgs,
    attn_position=st.sampled_from(['standard', 'pre', 'post', 'identity', 'after_conv2']),
    groups=st.sampled_from([1, 1, 2]),
    drop_path_rate=st.one_of(st.just(0.0), floats(0, 0.9)),
    style=st.sampled_from(['pytorch', 'caffe']),
    with_cp=bools,
)
BLOCK_BAD = dict(
    in_channels=bad_ints,
    out_channels=st.one_of(bad_ints, st.integers(5, 7)),
    stride=bad_ints,
    attn_cfg=bad_se_cfgs,
    attn_position=bad_names,
    groups=bad_ints,
    drop_path_rate=st.one_of(st.sampled_from([-0.5, 1.0, 2.0, math.nan]), junk),
    style=bad_names,
    downsample=st.just(None),
    with_cp=bad_bools,
)


@FUZZ
@given(args=arguments(BLOCK_VALID, BLOCK_BAD))
def test_se_blocks(args):
    bottleneck, planes, grow = args.pop('bottleneck'), args.pop('planes'), args.pop('grow')
    expansion = 4 if bottleneck else 1
    in_channels = args.pop('in_channels', planes * expansion)
    out_channels = args.pop('out_channels', planes * expansion * (2 if grow else 1))
    stride, groups = args['stride'], args.pop('groups')
    positive = all(as_int(v, 0) > 0 for v in (in_channels, out_channels, stride))
    if 'downsample' not in args and (stride != 1 or in_channels != out_channels) and positive:
        args['downsample'] = torch.nn.Conv2d(in_channels, out_channels, 1, stride=stride)

    def build():
        if bottleneck:
            return SEBottleneck(
                in_channels,
                out_channels,
                groups=groups,
                width_per_group=2,
                base_channels=planes,
                **args,
            )
        return SEBasicBlock(in_channels, out_channels, **args)

    _check(build, lambda: torch.rand(1, as_int(in_channels), 4, 4))


# --- SEResNet / SEResNeXt / SKNet ---------------------------------------------------

BACKBONE_VALID = dict(
    arch=st.sampled_from(['SEResNet', 'SEResNeXt', 'SKNet']),
    deep=st.booleans(),
    in_channels=ints(1, 3),
    base_channels=st.sampled_from([2, 4, np.int64(2)]),
    stem_channels=ints(2, 6),
    num_stages=ints(1, 4),
    attn_cfg=se_cfgs,
    attn_position=st.sampled_from(['standard', 'pre', 'post', 'identity', 'after_conv2']),
    all_se_stages=st.booleans(),
    stem_type=st.sampled_from(['imagenet', 'cifar']),
    groups=st.sampled_from([1, 2]),
    width_per_group=ints(1, 2),
    num_paths=ints(1, 3),
    frozen_stages=ints(-1, 1),
    drop_path_rate=st.one_of(st.just(0.0), floats(0, 0.5)),
    norm_cfg=norm_cfgs,
    norm_eval=bools,
    zero_init_residual=bools,
)
BACKBONE_BAD = dict(
    depth=st.sampled_from([0, 17, 200, '50', None, True, [50]]),
    in_channels=bad_ints,
    base_channels=bad_ints,
    stem_channels=bad_ints,
    num_stages=st.one_of(bad_ints, st.just(5)),
    attn_cfg=bad_se_cfgs,
    attn_position=bad_names,
    attn_stages=bad_tuples(4, bools),
    stem_type=bad_names,
    groups=bad_ints,
    width_per_group=bad_ints,
    num_paths=bad_ints,
    out_indices=st.one_of(bad_tuples(1, st.integers(-6, 6)), st.just((7,))),
    frozen_stages=st.one_of(st.integers(-5, -2), st.integers(5, 9), junk),
    drop_path_rate=st.one_of(st.sampled_from([-0.1, 1.0, 3.0, math.nan]), junk),
    strides=bad_tuples(4),
    dilations=bad_tuples(4),
    norm_cfg=bad_norm_cfgs,
    conv_cfg=bad_layer_cfgs,
    norm_eval=bad_bools,
    zero_init_residual=bad_bools,
)


@FUZZ
@given(args=arguments(BACKBONE_VALID, BACKBONE_BAD))
def test_backbones(args):
    arch, deep = args.pop('arch'), args.pop('deep')
    depth = args.pop(
        'depth',
        {'SEResNet': 50 if deep else 18, 'SEResNeXt': 50, 'SKNet': 26 if not deep else 50}[arch],
    )
    groups, width, paths = args.pop('groups'), args.pop('width_per_group'), args.pop('num_paths')
    n = as_int(args['num_stages'], 4) if 1 <= as_int(args['num_stages'], 4) <= 4 else 4
    if args.pop('all_se_stages'):
        args.setdefault('attn_stages', None)
    else:
        args.setdefault('attn_stages', tuple(i % 2 == 0 for i in range(n)))
    args.setdefault('out_indices', (n - 1,))
    if arch != 'SEResNet':
        args.update(groups=groups, width_per_group=width)
    if arch == 'SKNet':
        args.update(num_paths=paths, min_channels=2)
    cls = {'SEResNet': SEResNet, 'SEResNeXt': SEResNeXt, 'SKNet': SKNet}[arch]
    c = as_int(args['in_channels'])
    outs = _check(lambda: cls(depth, **args), lambda: torch.rand(1, c, 8, 8))
    if outs is not None:
        assert isinstance(outs, tuple) and len(outs) == len(args['out_indices'])


# --- the crashes fuzzing found, as plain regression tests ------------------------------


@pytest.mark.parametrize(
    'build, match',
    [
        (
            lambda: SELayer(8, conv_cfg=dict(type='NoSuchConv')),
            r"conv_cfg\['type'\] must be a registered conv type .*'NoSuchConv'",
        ),
        (
            lambda: SKConv(8, 8, groups=2, norm_cfg=dict(type='NoSuchNorm')),
            r"norm_cfg\['type'\] must be .*'NoSuchNorm'",
        ),
        (
            lambda: SEResNet(18, frozen_stages=5),
            r'frozen_stages must be an int in \[-1, 4\], got 5',
        ),
        (lambda: SEResNet(18, strides=(1, 0, 2, 2)), r'strides\[1\] must be an int >= 1'),
        (lambda: SEResNet(18, dilations=(1, 1.0, 1, 1)), r'dilations\[1\] must be an int'),
        (lambda: SEResNet(18, drop_path_rate=1.5), r'drop_path_rate must be a number in \[0, 1\)'),
        (lambda: SEResNet(18, base_channels=0), 'base_channels must be an int >= 1'),
        (lambda: SEResNet([50]), 'depth must be one of'),
        (lambda: SEBottleneck(16, 18), 'out_channels=18 must be divisible by expansion=4'),
        (lambda: SEBasicBlock(8, 8, stride=0), 'stride must be an int >= 1'),
        (lambda: SEBasicBlock(8, 16), 'needs a downsample'),
        (lambda: SEBasicBlock(0, 8), 'in_channels must be an int >= 1'),
    ],
)
def test_examples_found_by_fuzzing(build, match):
    with pytest.raises(CLEAR_ERRORS, match=match):
        build()
