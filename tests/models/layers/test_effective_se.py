import pytest
import torch
from helpers import RESNET50_BLOCK_CHANNELS, resnet50_params, timm_resnet50_params
from mmcv.cnn.bricks.hsigmoid import HSigmoid

from se_plugin.models import EffectiveSELayer
from se_plugin.registry import MODELS


def ese_formula(x, weight, bias, pool='avg'):
    """CenterMask Eq. 2: x * hsigmoid(W(F_gap(x))), hsigmoid(z) = relu6(z + 3) / 6."""
    pooled = {
        'avg': x.mean((2, 3)),
        'max': x.amax((2, 3)),
        'avgmax': (x.mean((2, 3)) + x.amax((2, 3))) / 2,
    }[pool]
    z = pooled @ weight.flatten(1).T + (0 if bias is None else bias)
    return x * (torch.clamp(z + 3, 0, 6) / 6)[:, :, None, None]


@pytest.mark.parametrize('squeeze', ['avg', 'max', 'avgmax'])
@pytest.mark.parametrize('bias', [True, False])
def test_matches_the_paper_formula(squeeze, bias):
    torch.manual_seed(0)
    layer = EffectiveSELayer(16, bias=bias, squeeze=squeeze).double()
    torch.nn.init.normal_(layer.fc.weight, std=2)  # gates on both flat parts of hsigmoid
    x = torch.randn(3, 16, 5, 4, dtype=torch.float64)
    torch.testing.assert_close(layer(x), ese_formula(x, layer.fc.weight, layer.fc.bias, squeeze))
    assert isinstance(layer.gate, HSigmoid)


@pytest.mark.parametrize('add_maxpool', [False, True])
def test_equals_timm_with_its_weights(add_maxpool):
    from timm.layers import EffectiveSEModule

    torch.manual_seed(0)
    theirs = EffectiveSEModule(32, add_maxpool=add_maxpool).double()
    torch.nn.init.normal_(theirs.fc.weight, std=2)
    torch.nn.init.normal_(theirs.fc.bias)
    ours = EffectiveSELayer(32, squeeze='avgmax' if add_maxpool else 'avg').double()
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(2, 32, 6, 5, dtype=torch.float64)
    torch.testing.assert_close(ours(x), theirs(x))


def test_params_in_resnet50_equal_timm_and_the_formula():
    """One C x C conv with a bias per bottleneck."""
    added = sum(c * c + c for c in RESNET50_BLOCK_CHANNELS)
    ours = resnet50_params(dict(type='se_plugin.EffectiveSELayer'))
    assert ours == resnet50_params(None) + added == timm_resnet50_params('ese')


def test_gate_and_conv_cfg():
    layer = EffectiveSELayer(8, act_cfg=dict(type='Sigmoid'), conv_cfg=dict(type='Conv2d'))
    x = torch.randn(2, 8, 3, 3)
    expected = x * torch.sigmoid(layer.fc(x.mean((2, 3), keepdim=True)))
    torch.testing.assert_close(layer(x), expected)


def test_build_from_registry_and_empty_batch():
    layer = MODELS.build(dict(type='se_plugin.EffectiveSELayer', in_channels=64))
    assert isinstance(layer, EffectiveSELayer) and layer.fc.weight.shape == (64, 64, 1, 1)
    assert layer(torch.randn(0, 64, 3, 3)).shape == (0, 64, 3, 3)


@pytest.mark.parametrize(
    'kwargs, error, match',
    [
        (dict(squeeze='mean'), ValueError, "squeeze must be one of 'avg', 'max', 'avgmax'"),
        (dict(bias=1), TypeError, 'bias must be a bool, got 1'),
        (dict(act_cfg=dict(type='GELU')), ValueError, 'GELU'),
        (
            dict(conv_cfg=dict(type='Conv1d')),
            ValueError,
            r"conv_cfg\['type'\] must be a 2-D convolution .*got 'Conv1d'",
        ),
        (
            dict(conv_cfg=dict(type='NoConv')),
            ValueError,
            r"conv_cfg\['type'\] must be a registered conv type .*got 'NoConv'",
        ),
        (dict(in_channels=-1), ValueError, 'in_channels must be an int >= 1'),
        (dict(impl='cuda'), ValueError, "impl must be one of 'fused', 'recompute', 'reference'"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        EffectiveSELayer(**dict(dict(in_channels=32), **kwargs))


def test_input_shape_is_checked():
    with pytest.raises(ValueError, match=r'EffectiveSELayer\(16\) expects an \(N, 16, H, W\)'):
        EffectiveSELayer(16)(torch.rand(16, 2, 2))
