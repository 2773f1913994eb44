import pytest
import torch
import torch.nn.functional as F
from helpers import RESNET50_BLOCK_CHANNELS, resnet50_params, timm_resnet50_params

from se_plugin.models import CBAM
from se_plugin.registry import MODELS


def cbam_formula(x, layer):
    """CBAM Eq. 1-3 written out with ``layer``'s weights (batch norm in training mode)."""

    def mlp(v):  # (N, C) -> (N, C), W1 and W0 shared by both descriptors
        h = F.relu(F.linear(v, layer.fc1.weight.flatten(1), layer.fc1.bias))
        return F.linear(h, layer.fc2.weight.flatten(1), layer.fc2.bias)

    m_c = torch.sigmoid(mlp(x.mean((2, 3))) + mlp(x.amax((2, 3))))
    x = x * m_c[:, :, None, None]
    pooled = torch.stack([x.mean(1), x.amax(1)], 1)
    conv = layer.spatial.conv
    s = F.conv2d(pooled, conv.weight, conv.bias, padding=conv.kernel_size[0] // 2)
    if layer.spatial.with_norm:
        s = (s - s.mean()) / torch.sqrt(s.var(unbiased=False) + 1e-5)
        s = s * layer.spatial.bn.weight + layer.spatial.bn.bias
    return x * torch.sigmoid(s)


@pytest.mark.parametrize(
    'kwargs',
    [dict(), dict(bias=False), dict(norm_cfg=None), dict(spatial_kernel_size=3, ratio=4)],
    ids=['default', 'no-bias', 'no-norm', 'k3-r4'],
)
def test_matches_the_paper_formula(kwargs):
    torch.manual_seed(0)
    layer = CBAM(32, **kwargs).double().train()
    for p in layer.parameters():
        torch.nn.init.normal_(p)
    x = torch.randn(3, 32, 6, 5, dtype=torch.float64)
    torch.testing.assert_close(layer(x), cbam_formula(x, layer))
    assert layer.spatial.conv.bias is None if layer.spatial.with_norm else True


def timm_state_dict(theirs) -> dict:
    """timm's CbamModule names -> ours (``channel.`` dropped, ``spatial.conv.*`` flattened)."""
    renamed = {}
    for key, value in theirs.state_dict().items():
        key = key.replace('channel.', '').replace('spatial.conv.conv.', 'spatial.conv.')
        renamed[key.replace('spatial.conv.bn.', 'spatial.bn.')] = value
    return renamed


@pytest.mark.parametrize('train', [True, False], ids=['train', 'eval'])
@pytest.mark.parametrize('channels', [16, 64])
def test_equals_timm_with_its_weights(channels, train):
    from timm.layers.cbam import CbamModule

    torch.manual_seed(0)
    theirs = CbamModule(channels).double()
    for p in theirs.parameters():
        torch.nn.init.normal_(p)
    theirs.spatial.conv.bn.running_mean.uniform_(-1, 1)
    theirs.spatial.conv.bn.running_var.uniform_(0.5, 2)
    ours = CBAM(channels, bias=False).double()  # timm's default rd_ratio is 1/16, mlp_bias False
    ours.load_state_dict(timm_state_dict(theirs))
    ours.train(train), theirs.train(train)
    x = torch.randn(2, channels, 6, 5, dtype=torch.float64)
    torch.testing.assert_close(ours(x), theirs(x))
    torch.testing.assert_close(ours.spatial.bn.running_mean, theirs.spatial.conv.bn.running_mean)


def added_params(bias: bool) -> int:
    """Per bottleneck: the MLP (C * C/16 twice, biases C/16 + C) and the 7x7 conv + BN (98 + 2)."""
    total = 0
    for c in RESNET50_BLOCK_CHANNELS:
        total += 2 * c * (c // 16) + (c // 16 + c if bias else 0) + 2 * 49 + 2
    return total


@pytest.mark.parametrize('bias', [True, False])
def test_params_in_resnet50(bias):
    """bias=False: timm's 28,073,576; bias=True: the paper's 28.09M (Table 4)."""
    ours = resnet50_params(dict(type='se_plugin.CBAM', bias=bias))
    assert ours == resnet50_params(None) + added_params(bias)
    if bias:
        assert round(ours / 1e6, 2) == 28.09
    else:
        assert ours == timm_resnet50_params('cbam')


def test_hidden_width_and_gates():
    layer = CBAM(48, ratio=16, act_cfg=(dict(type='PReLU'), dict(type='HSigmoid')))
    assert layer.squeeze_channels == 3 and layer.fc1.out_channels == 3
    assert CBAM(48, squeeze_channels=5).fc2.in_channels == 5
    assert CBAM(48, ratio=16, divisor=8).squeeze_channels == 8
    x = torch.randn(2, 48, 4, 4)
    assert layer(x).shape == x.shape


def test_build_from_registry_and_empty_batch():
    layer = MODELS.build(dict(type='se_plugin.CBAM', in_channels=64))
    assert isinstance(layer, CBAM) and layer.squeeze_channels == 4
    layer.eval()
    assert layer(torch.randn(0, 64, 3, 3)).shape == (0, 64, 3, 3)


@pytest.mark.parametrize(
    'kwargs, error, match',
    [
        (dict(ratio=0), ValueError, 'ratio must be a finite number > 0, got 0'),
        (dict(ratio=0.5), ValueError, r'squeeze width must be in \[1, in_channels=32\], got 64'),
        (dict(squeeze_channels=33), ValueError, 'got 33 from squeeze_channels'),
        (dict(divisor=0), ValueError, 'divisor must be an int >= 1'),
        (dict(bias='yes'), TypeError, "bias must be a bool, got 'yes'"),
        (dict(spatial_kernel_size=6), ValueError, 'spatial_kernel_size must be an odd int'),
        (dict(spatial_kernel_size=None), TypeError, 'spatial_kernel_size must be an int'),
        (
            dict(norm_cfg=dict(type='BatchNorm')),
            ValueError,
            r"norm_cfg\['type'\] must be a registered norm type .*got 'BatchNorm'",
        ),
        (dict(norm_cfg='BN'), TypeError, 'norm_cfg must be a dict'),
        (dict(act_cfg=(dict(type='ReLU'),)), TypeError, 'pair of dicts'),
        (dict(act_cfg=(dict(type='Sigmoid'), dict(type='GELU'))), ValueError, 'GELU'),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        CBAM(32, **kwargs)


def test_input_shape_is_checked():
    with pytest.raises(ValueError, match=r'CBAM\(16\) expects an \(N, 16, H, W\) input'):
        CBAM(16)(torch.rand(1, 32, 2, 2))
