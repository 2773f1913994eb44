import pytest
import torch

from se_plugin.models import SRMLayer
from se_plugin.models.layers.srm import style_pool
from se_plugin.registry import MODELS
from tests.models.layers.resnet50_slot import num_params, ours, randomize, slot_params


def srm_formula(x, layer, train):
    """SRM Eq. 1-6 written out per channel (float64): style pooling, CFC, BN, sigmoid."""
    n, c = x.shape[:2]
    flat = x.reshape(n, c, -1)
    mu = flat.mean(2)
    sigma = torch.sqrt(((flat - mu[..., None]) ** 2).sum(2) / (flat.shape[2] - 1) + layer.eps)
    z = layer.cfc[:, 0] * mu + layer.cfc[:, 1] * sigma  # (N, C)
    bn = layer.bn
    if train:
        mean, var = z.mean(0), z.var(0, unbiased=False)
    else:
        mean, var = bn.running_mean, bn.running_var
    z_hat = (z - mean) / torch.sqrt(var + bn.eps) * bn.weight + bn.bias
    return x * torch.sigmoid(z_hat)[:, :, None, None]


@pytest.mark.parametrize('train', [True, False], ids=['train', 'eval'])
@pytest.mark.parametrize('shape', [(4, 16, 5, 7), (3, 16, 2, 1)])
def test_the_papers_formula(shape, train):
    torch.manual_seed(0)
    layer = randomize(SRMLayer(16)).double().train(train)
    x = torch.randn(shape, dtype=torch.float64)
    out = layer(x)
    assert out.shape == x.shape
    torch.testing.assert_close(out, srm_formula(x, layer.eval(), train))


def test_style_pooling_is_mean_and_unbiased_std_with_eps():
    x = torch.randn(2, 3, 4, 5, dtype=torch.float64) * 3
    style = style_pool(x, eps=0.0)
    torch.testing.assert_close(style[..., 0], x.mean((2, 3)))
    torch.testing.assert_close(style[..., 1], x.flatten(2).std(2))  # the authors' torch.std
    torch.testing.assert_close(style_pool(x, 0.5)[..., 1] ** 2, x.flatten(2).var(2) + 0.5)


def test_one_position_and_constant_channels_give_finite_gradients():
    layer = SRMLayer(4)
    with torch.no_grad():
        layer.cfc.normal_()
    for x in (torch.randn(3, 4, 1, 1), torch.ones(3, 4, 3, 3)):
        x.requires_grad_()
        layer(x).sum().backward()
        assert torch.isfinite(x.grad).all() and torch.isfinite(layer.cfc.grad).all()
    torch.testing.assert_close(
        style_pool(torch.ones(1, 2, 1, 1), 1e-4)[..., 1], torch.full((1, 2), 0.01)
    )


def test_the_authors_init_and_names():
    layer = SRMLayer(8)
    assert layer.cfc.shape == (8, 2) and not layer.cfc.any()
    assert isinstance(layer.bn, torch.nn.BatchNorm2d)
    x = torch.randn(4, 8, 3, 3)
    torch.testing.assert_close(layer.eval()(x), x * 0.5)  # z = 0, BN(0) = 0, sigmoid 0.5


def test_params_in_se_resnet50():
    """cfc (2 per channel) and the BN's affine (2 per channel)."""
    model = ours(dict(type='se_plugin.SRMLayer'))
    assert num_params(model) == slot_params(lambda c: 4 * c)


def test_build_as_plugin_and_without_norm():
    layer = MODELS.build(dict(type='SRMLayer', in_channels=32, norm_cfg=None))
    assert isinstance(layer, SRMLayer) and num_params(layer) == 64


def test_half_precision_reduces_in_fp32():
    x = torch.full((1, 2, 64, 64), 60000.0).half()
    assert torch.isfinite(style_pool(x, 1e-5)).all()


@pytest.mark.parametrize(
    'kwargs, error, match',
    [
        (dict(eps=-1.0), ValueError, 'eps must be a finite number >= 0, got -1.0'),
        (dict(eps='small'), TypeError, 'eps must be a finite number'),
        (dict(eps=float('nan')), ValueError, 'eps must be a finite number'),
        (
            dict(norm_cfg=dict(type='Nope')),
            ValueError,
            r"norm_cfg\['type'\] must be a registered norm type .*got 'Nope'",
        ),
        (dict(norm_cfg='BN'), TypeError, 'norm_cfg must be a dict'),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        SRMLayer(32, **kwargs)


@pytest.mark.parametrize('channels', [0, 1.5, True])
def test_bad_in_channels(channels):
    with pytest.raises((ValueError, TypeError), match='in_channels'):
        SRMLayer(channels)


def test_bad_input_shape():
    with pytest.raises(ValueError, match=r'SRMLayer\(8\) expects an \(N, 8, H, W\)'):
        SRMLayer(8)(torch.rand(2, 8, 3))
