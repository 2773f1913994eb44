"""The shared argument checks: one per argument kind, one message shape, numpy normalised."""

import math
import re

import numpy as np
import pytest
from torch import nn

from se_plugin.checks import (
    ChoiceError,
    UnknownTypeError,
    check_act_cfg,
    check_bool,
    check_bool_tuple,
    check_choice,
    check_conv_cfg,
    check_fraction,
    check_int,
    check_int_tuple,
    check_norm_cfg,
    check_positive_number,
    check_real,
    check_registered,
    check_slot_channels,
)

SHAPE = r'x(\[[^\]]*\])* must be .+, got .+'


@pytest.mark.parametrize(
    'check, value, error',
    [
        (check_int, True, TypeError),
        (check_int, np.bool_(True), TypeError),
        (check_int, 2.0, TypeError),
        (check_int, np.float32(2.0), TypeError),
        (check_int, '2', TypeError),
        (lambda n, v: check_int(n, v, minimum=1), 0, ValueError),
        (lambda n, v: check_int(n, v, -1, 4), np.int64(5), ValueError),
        (check_real, math.nan, ValueError),
        (check_real, np.float32(math.inf), ValueError),
        (check_real, False, TypeError),
        (check_real, None, TypeError),
        (lambda n, v: check_real(n, v, minimum=0), -1e-9, ValueError),
        (check_positive_number, 0, ValueError),
        (check_positive_number, -math.inf, ValueError),
        (check_positive_number, np.float64(math.nan), ValueError),
        (check_positive_number, True, TypeError),
        (check_positive_number, '16', TypeError),
        (check_fraction, 1, ValueError),
        (check_fraction, -0.0001, ValueError),
        (check_fraction, math.nan, ValueError),
        (check_fraction, True, TypeError),
        (check_bool, 1, TypeError),
        (check_bool, 'True', TypeError),
        (check_bool, None, TypeError),
        (check_bool, np.int64(1), TypeError),
        (lambda n, v: check_choice(n, v, ('avg', 'max')), 'mean', ValueError),
        (lambda n, v: check_choice(n, v, ('avg', 'max')), 1, TypeError),
        (lambda n, v: check_choice(n, v, (18, 50)), 19, ValueError),
        (lambda n, v: check_choice(n, v, (18, 50)), True, TypeError),
        (lambda n, v: check_choice(n, v, (18, 50)), '18', TypeError),
        (lambda n, v: check_int_tuple(n, v, 2, minimum=1), (1, 0), ValueError),
        (lambda n, v: check_int_tuple(n, v, 2), (1, True), TypeError),
        (lambda n, v: check_int_tuple(n, v, 2), (1,), ValueError),
        (lambda n, v: check_bool_tuple(n, v, 2), (True, 1), TypeError),
        (lambda n, v: check_bool_tuple(n, v, 2), (True,), ValueError),
        (check_conv_cfg, 'Conv2d', TypeError),
        (check_conv_cfg, dict(kind='Conv2d'), TypeError),
        (check_conv_cfg, dict(type='Conv1d'), ValueError),
        (check_conv_cfg, dict(type=nn.Conv3d), ValueError),
        (check_conv_cfg, dict(type='NoSuchConv'), ValueError),
        (check_conv_cfg, dict(type=3), TypeError),
        (check_norm_cfg, dict(type='GN'), ValueError),
        (check_norm_cfg, dict(type='GN', num_groups=0), ValueError),
        (check_norm_cfg, dict(type='GN', num_groups=2.0), TypeError),
        (lambda n, v: check_norm_cfg(n, v, (8, 12)), dict(type='GN', num_groups=8), ValueError),
        (check_norm_cfg, dict(type='BN3d'), ValueError),
        (check_norm_cfg, dict(type='NoSuchNorm'), ValueError),
        (check_act_cfg, dict(type='NoSuchAct'), ValueError),
        (check_act_cfg, None, TypeError),
        (lambda n, v: check_act_cfg(n, v, ('ReLU',)), dict(type='GELU'), ValueError),
        (lambda n, v: check_slot_channels(n, v, 8, 'the slot'), dict(in_channels=4), ValueError),
        (lambda n, v: check_slot_channels(n, v, 8, 'the slot'), dict(in_channels=8.0), TypeError),
    ],
)
def test_bad_values_give_one_message_shape(check, value, error):
    with pytest.raises(error) as info:
        check('x', value)
    message = str(info.value)
    assert re.fullmatch(SHAPE, message) and '\n' not in message, message


@pytest.mark.parametrize(
    'check, value, expected',
    [
        (check_int, np.int64(3), 3),
        (check_int, np.uint8(3), 3),
        (check_real, np.float32(0.5), 0.5),
        (check_real, np.int32(-2), -2),
        (check_real, 10**400, 10**400),  # an int is finite however large
        (check_positive_number, np.float64(16.0), 16.0),
        (check_positive_number, 16, 16),
        (check_fraction, np.float32(0.25), 0.25),
        (check_bool, np.bool_(False), False),
        (lambda n, v: check_choice(n, v, (18, 50)), np.int64(50), 50),
        (lambda n, v: check_choice(n, v, ('avg', 'max')), np.str_('avg'), 'avg'),
        (lambda n, v: check_int_tuple(n, v, 2), [np.int64(1), 2], (1, 2)),
        (lambda n, v: check_bool_tuple(n, v, 2), [np.bool_(True), False], (True, False)),
    ],
)
def test_numpy_values_come_back_as_python_values(check, value, expected):
    got = check('x', value)
    assert got == expected and type(got) is type(expected)


def test_a_bad_choice_is_a_value_error_and_a_key_error():
    with pytest.raises(ChoiceError) as info:
        check_choice('depth', 19, (18, 50), ChoiceError)
    assert isinstance(info.value, ValueError) and isinstance(info.value, KeyError)
    assert str(info.value) == 'depth must be one of 18, 50, got 19'


@pytest.mark.parametrize(
    'cfg', [None, dict(type='Conv2d'), dict(type='Conv'), dict(type=nn.Conv2d)]
)
def test_2d_convolutions_pass(cfg):
    assert check_conv_cfg('conv_cfg', cfg) == cfg


def test_conv_cfg_names_the_type_and_what_is_allowed():
    with pytest.raises(ValueError) as info:
        check_conv_cfg('conv_cfg', dict(type='Conv3d'))
    assert str(info.value) == (
        "conv_cfg['type'] must be a 2-D convolution (e.g. 'Conv2d'), got 'Conv3d'"
    )
    with pytest.raises(UnknownTypeError) as info:  # a ValueError and, as mmengine's, a KeyError
        check_conv_cfg('conv_cfg', dict(type='NoSuchConv'))
    assert isinstance(info.value, KeyError)


def test_group_norm_needs_groups_that_divide_every_width():
    with pytest.raises(ValueError) as info:
        check_norm_cfg('norm_cfg', dict(type='GN'), (64,))
    assert str(info.value) == (
        "norm_cfg['num_groups'] must be given for GroupNorm (an int >= 1), got {'type': 'GN'}"
    )
    with pytest.raises(ValueError) as info:
        check_norm_cfg('norm_cfg', dict(type='GN', num_groups=16), (64, 8, 64))
    assert str(info.value) == (
        "norm_cfg['num_groups'] must be a divisor of the widths it normalises (8, 64), got 16"
    )
    cfg = dict(type='GN', num_groups=np.int64(8))
    checked = check_norm_cfg('norm_cfg', cfg, (64, 8))
    assert checked == dict(type='GN', num_groups=8) and type(checked['num_groups']) is int
    assert cfg['num_groups'].dtype == np.int64  # the caller's dict is left as it is


@pytest.mark.parametrize('cfg', [None, dict(type='BN'), dict(type='SyncBN'), dict(type='IN')])
def test_2d_norms_pass(cfg):
    assert check_norm_cfg('norm_cfg', cfg, (3,)) == cfg


def test_activations_any_registered_or_from_a_list():
    assert check_act_cfg('act_cfg', dict(type='GELU')) == dict(type='GELU')
    assert check_act_cfg('act_cfg', dict(type='ReLU', inplace=True), ('ReLU',))['inplace']


def test_slot_channels_filled_in_checked_or_used():
    assert check_slot_channels('attn_cfg', dict(type='A'), 8, 'w') == dict(type='A', in_channels=8)
    same = check_slot_channels('attn_cfg', dict(type='A', in_channels=np.int64(8)), 8, 'w')
    assert same['in_channels'] == 8 and type(same['in_channels']) is int
    # a width the caller cannot tell: the given one is used
    assert check_slot_channels('attention', dict(in_channels=5), None, 'w')['in_channels'] == 5
    with pytest.raises(ValueError) as info:
        check_slot_channels('attn_cfg', dict(in_channels=64), 8, "the channels at 'standard'")
    assert str(info.value) == (
        "attn_cfg['in_channels'] must be 8 (the channels at 'standard') or left out, got 64"
    )


def test_registered_names_the_unknown_type():
    from se_plugin.registry import MODELS

    assert check_registered('attn_cfg', None, MODELS) is None
    with pytest.raises(
        UnknownTypeError, match=r"attn_cfg\['type'\] must be a registered attention"
    ):
        check_registered('attn_cfg', dict(type='SELayr'), MODELS)
