import pytest
import torch
from mmcv.cnn.bricks.hsigmoid import HSigmoid

from se_plugin.models import SELayer
from se_plugin.registry import MODELS


@pytest.mark.parametrize(
    'channels, ratio, divisor, expected',
    [(64, 16, 8, 8), (256, 16, 8, 16), (2048, 16, 8, 128), (64, 4, 1, 16), (48, 16, 1, 3)],
)
def test_squeeze_width(channels, ratio, divisor, expected):
    layer = SELayer(channels, ratio=ratio, divisor=divisor)
    assert layer.squeeze_channels == expected
    assert layer.fc1.out_channels == expected and layer.fc2.in_channels == expected


def test_squeeze_channels_overrides_ratio():
    layer = SELayer(64, ratio=2, squeeze_channels=5)
    assert layer.squeeze_channels == 5


@pytest.mark.parametrize('squeeze', ['avg', 'max', 'avgmax'])
@pytest.mark.parametrize('shape', [(2, 32, 7, 7), (1, 32, 1, 1), (3, 32, 5, 9)])
def test_shape_and_scale(squeeze, shape):
    layer = SELayer(32, ratio=4, squeeze=squeeze)
    x = torch.randn(shape)
    out = layer(x)
    assert out.shape == x.shape
    weight = layer.excitation(x)
    assert weight.shape == (shape[0], 32, 1, 1)
    torch.testing.assert_close(out, x * weight)
    assert SELayer(32, ratio=4, squeeze=squeeze, return_weight=True)(x).shape == weight.shape


@pytest.mark.parametrize(
    'gate, low, high',
    [('Sigmoid', 0.0, 1.0), ('HSigmoid', 0.0, 1.0), ('Tanh', -1.0, 1.0), ('ReLU', 0.0, None)],
)
def test_gates(gate, low, high):
    layer = SELayer(16, ratio=2, act_cfg=(dict(type='ReLU'), dict(type=gate)), return_weight=True)
    weight = layer(torch.randn(4, 16, 3, 3) * 10)
    assert weight.min() >= low
    if high is not None:
        assert weight.max() <= high
    if gate == 'HSigmoid':
        assert isinstance(layer.gate, HSigmoid)


def test_single_act_cfg_used_for_both():
    layer = SELayer(16, ratio=2, act_cfg=dict(type='ReLU'))
    assert isinstance(layer.act, torch.nn.ReLU) and isinstance(layer.gate, torch.nn.ReLU)


def test_bias_and_conv_cfg():
    layer = SELayer(16, ratio=2, bias=False, conv_cfg=dict(type='Conv2d'))
    assert layer.fc1.bias is None and layer.fc2.bias is None


def test_gradients_flow():
    layer = SELayer(16, ratio=4)
    x = torch.randn(2, 16, 5, 5, requires_grad=True)
    layer(x).sum().backward()
    assert x.grad is not None and all(p.grad is not None for p in layer.parameters())


def test_channels_last_input():
    layer = SELayer(16, ratio=4)
    x = torch.randn(2, 16, 5, 5)
    torch.testing.assert_close(layer(x.to(memory_format=torch.channels_last)), layer(x))


def test_build_from_registry_as_plugin():
    """mmcv plugin convention: the channel count is passed as ``in_channels``."""
    layer = MODELS.build(dict(type='SELayer', in_channels=64, ratio=8))
    assert isinstance(layer, SELayer) and layer.squeeze_channels == 8


@pytest.mark.parametrize(
    'kwargs, error, match',
    [
        (dict(ratio=0), ValueError, 'ratio must be a finite number > 0, got 0'),
        (dict(ratio=-4), ValueError, 'ratio'),
        (dict(ratio='16'), TypeError, 'ratio must be a finite number'),
        (dict(squeeze_channels=0), ValueError, r'squeeze width must be in \[1, in_channels=32\]'),
        (dict(squeeze_channels=33), ValueError, 'got 33'),
        (dict(squeeze_channels=2.5), TypeError, 'squeeze_channels must be an int'),
        (dict(ratio=0.5, divisor=1), ValueError, 'squeeze width'),
        (dict(divisor=0), ValueError, 'divisor must be an int >= 1'),
        (dict(squeeze='mean'), ValueError, "squeeze must be one of 'avg', 'max', 'avgmax'"),
        (dict(act_cfg=(dict(type='ReLU'), dict(type='Softmax'))), ValueError, 'Softmax'),
        (dict(act_cfg=(dict(type='Sigmod'), dict(type='Sigmoid'))), ValueError, 'Sigmod'),
        (dict(act_cfg=(dict(type='ReLU'),)), TypeError, 'pair of dicts'),
        (dict(act_cfg='ReLU'), TypeError, 'act_cfg'),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        SELayer(32, **kwargs)


@pytest.mark.parametrize('channels', [0, -1, 3.0, True])
def test_bad_in_channels(channels):
    with pytest.raises((ValueError, TypeError), match='in_channels'):
        SELayer(channels)


def test_tiny_channels_with_default_divisor_explains_fix():
    with pytest.raises(ValueError, match='smaller divisor'):
        SELayer(4)  # make_divisible(4 / 16, 8) = 8 > 4
    assert SELayer(4, divisor=1).squeeze_channels == 1


@pytest.mark.parametrize(
    'kwargs, error, match',
    [
        (
            dict(conv_cfg=dict(type='Conv3d')),
            ValueError,
            r"conv_cfg\['type'\] must be a 2-D convolution .*got 'Conv3d'",
        ),
        (
            dict(conv_cfg=dict(type='Conv1d')),
            ValueError,
            r"conv_cfg\['type'\] must be a 2-D convolution .*got 'Conv1d'",
        ),
        (dict(bias='no'), TypeError, "bias must be a bool, got 'no'"),
    ],
)
def test_conv_and_bias_arguments_are_checked_at_build_time(kwargs, error, match):
    with pytest.raises(error, match=match):
        SELayer(16, **kwargs)


def test_input_shape_is_checked_and_numpy_ints_are_channels():
    import numpy as np

    layer = SELayer(np.int64(16), ratio=np.int32(4))
    assert type(layer.in_channels) is int and layer.in_channels == 16
    with pytest.raises(
        ValueError, match=r'expects an \(N, 16, H, W\) input, got shape \(1, 16, 2, 2, 2\)'
    ):
        layer(torch.rand(1, 16, 2, 2, 2))
    with pytest.raises(ValueError, match='got shape'):
        layer(torch.rand(1, 8, 2, 2))
