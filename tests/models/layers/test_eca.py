import math

import pytest
import torch
import torch.nn.functional as F
from helpers import RESNET50_BLOCK_CHANNELS, resnet50_params, timm_resnet50_params

from se_plugin.models import ECALayer
from se_plugin.models.layers.eca import eca_kernel_size
from se_plugin.registry import MODELS


def paper_kernel(channels, gamma=2, beta=1):
    """ECA-Net Eq. 12, the authors' rounding: the odd number nearest above |(log2 C + b) / g|."""
    t = math.floor(abs((math.log(channels, 2) + beta) / gamma))
    return t + 1 - t % 2


@pytest.mark.parametrize(
    'channels, gamma, beta, expected',
    [(64, 2, 1, 3), (256, 2, 1, 5), (512, 2, 1, 5), (1024, 2, 1, 5), (2048, 2, 1, 7)]
    + [(4, 2, 1, 1), (1, 2, 1, 1), (8, 2, 1, 3), (2048, 1, 1, 13), (96, 3, -1, 1)],
)
def test_adaptive_kernel_size(channels, gamma, beta, expected):
    assert eca_kernel_size(channels, gamma, beta) == paper_kernel(channels, gamma, beta)
    layer = ECALayer(channels, gamma=gamma, beta=beta)
    assert layer.conv.kernel_size == (expected,) and layer.conv.padding == ((expected - 1) // 2,)
    assert layer.conv.bias is None and layer.conv.weight.shape == (1, 1, expected)


@pytest.mark.parametrize('channels', [8, 16, 64, 100, 256, 512, 1000, 2048, 4096])
def test_kernel_size_agrees_with_timm_from_8_channels(channels):
    from timm.layers import EcaModule

    assert ECALayer(channels).conv.kernel_size == EcaModule(channels).conv.kernel_size


def test_given_kernel_size_overrides_the_rule():
    assert ECALayer(2048, kernel_size=3).conv.kernel_size == (3,)
    assert ECALayer(4, kernel_size=9).conv.kernel_size == (9,)  # wider than C: zero padded


def eca_formula(x, weight, gate=torch.sigmoid):
    """The paper's Eq. 7-8 written out: w_i = gate(sum_j k_j * y_{i+j}), y the channel means."""
    y = x.mean((2, 3))
    k = weight.numel()
    y = F.pad(y, (k // 2, k // 2))
    logits = sum(weight.flatten()[j] * y[:, j : j + x.shape[1]] for j in range(k))
    return x * gate(logits)[:, :, None, None]


@pytest.mark.parametrize('channels, kernel_size', [(16, None), (7, None), (32, 5), (4, 9)])
@pytest.mark.parametrize('shape', [(3, 5, 4), (1, 1, 1)])
def test_matches_the_paper_formula(channels, kernel_size, shape):
    torch.manual_seed(0)
    layer = ECALayer(channels, kernel_size=kernel_size).double()
    torch.nn.init.normal_(layer.conv.weight)
    x = torch.randn(shape[0], channels, *shape[1:], dtype=torch.float64)
    torch.testing.assert_close(layer(x), eca_formula(x, layer.conv.weight))


def test_other_gate():
    torch.manual_seed(0)
    layer = ECALayer(16, act_cfg=dict(type='Tanh')).double()
    x = torch.randn(2, 16, 3, 3, dtype=torch.float64)
    torch.testing.assert_close(layer(x), eca_formula(x, layer.conv.weight, torch.tanh))


@pytest.mark.parametrize('channels', [16, 64, 256, 2048])
def test_equals_timm_with_its_weights(channels):
    from timm.layers import EcaModule

    torch.manual_seed(0)
    theirs = EcaModule(channels).double()
    torch.nn.init.normal_(theirs.conv.weight)
    ours = ECALayer(channels).double()
    ours.load_state_dict(theirs.state_dict())  # same names and shapes
    x = torch.randn(2, channels, 5, 4, dtype=torch.float64)
    torch.testing.assert_close(ours(x), theirs(x))


def test_params_in_resnet50_equal_timm_and_the_formula():
    """k(C) weights per bottleneck: 3 * 5 + 4 * 5 + 6 * 5 + 3 * 7 = 86 over ResNet-50."""
    added = sum(paper_kernel(c) for c in RESNET50_BLOCK_CHANNELS)
    ours = resnet50_params(dict(type='se_plugin.ECALayer'))
    assert ours == resnet50_params(None) + added == timm_resnet50_params('eca')


def test_build_from_registry_as_plugin():
    layer = MODELS.build(dict(type='se_plugin.ECALayer', in_channels=64))
    assert isinstance(layer, ECALayer) and layer.conv.kernel_size == (3,)


def test_channels_last_and_empty_batch():
    layer = ECALayer(16)
    x = torch.randn(2, 16, 5, 5)
    torch.testing.assert_close(layer(x.to(memory_format=torch.channels_last)), layer(x))
    assert layer(x[:0]).shape == (0, 16, 5, 5)


@pytest.mark.parametrize(
    'kwargs, error, match',
    [
        (dict(kernel_size=4), ValueError, 'kernel_size must be an odd int .* got 4'),
        (dict(kernel_size=0), ValueError, 'kernel_size must be an int >= 1, got 0'),
        (dict(kernel_size=3.0), TypeError, 'kernel_size must be an int'),
        (dict(gamma=0), ValueError, 'gamma must be a finite number > 0, got 0'),
        (dict(gamma='2'), TypeError, 'gamma must be a finite number'),
        (dict(beta=float('nan')), ValueError, 'beta must be a finite number'),
        (dict(beta=None), TypeError, 'beta must be a finite number, got None'),
        (dict(act_cfg=dict(type='Softmax')), ValueError, 'Softmax'),
        (dict(act_cfg='Sigmoid'), TypeError, 'act_cfg must be a dict'),
        (dict(in_channels=0), ValueError, 'in_channels must be an int >= 1'),
        (dict(in_channels=16.0), TypeError, 'in_channels must be an int'),
        (dict(impl='cuda'), ValueError, "impl must be one of 'fused', 'recompute', 'reference'"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        ECALayer(**dict(dict(in_channels=32), **kwargs))


def test_input_shape_is_checked():
    with pytest.raises(ValueError, match=r'ECALayer\(16\) expects an \(N, 16, H, W\) input'):
        ECALayer(16)(torch.rand(1, 8, 2, 2))
