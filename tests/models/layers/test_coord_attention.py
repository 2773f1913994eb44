from functools import partial

import pytest
import torch
import torch.nn.functional as F

from se_plugin.models import CoordAttention
from se_plugin.registry import MODELS
from tests.models.layers.resnet50_slot import (
    assert_same_features,
    copy_timm_weights,
    num_params,
    ours,
    randomize,
    slot_params,
    timm_resnet50,
)


def coord_attention_formula(x, layer):
    """Eq. 4-9 of the paper, written out on (N, C) slices (float64)."""
    n, c, h, w = x.shape
    z_h = x.mean(3)  # (N, C, H): Eq. 4
    z_w = x.mean(2)  # (N, C, W): Eq. 5
    z = torch.cat([z_h, z_w], 2)  # (N, C, H + W)
    w1 = layer.conv1.weight[:, :, 0, 0]
    f = torch.einsum('mc,ncl->nml', w1, z) + layer.conv1.bias[None, :, None]
    bn = layer.bn1
    f = (f - bn.running_mean[None, :, None]) / torch.sqrt(bn.running_var[None, :, None] + bn.eps)
    f = f * bn.weight[None, :, None] + bn.bias[None, :, None]
    f = f * F.relu6(f + 3) / 6  # h-swish, Eq. 6
    f_h, f_w = f[:, :, :h], f[:, :, h:]

    def gate(conv, part):
        return torch.sigmoid(
            torch.einsum('cm,nml->ncl', conv.weight[:, :, 0, 0], part) + conv.bias[None, :, None]
        )

    g_h, g_w = gate(layer.conv_h, f_h), gate(layer.conv_w, f_w)  # Eq. 8
    return x * g_h[:, :, :, None] * g_w[:, :, None, :]  # Eq. 9


@pytest.mark.parametrize('shape', [(2, 64, 5, 7), (1, 64, 1, 1), (3, 64, 8, 3)])
def test_the_papers_formula(shape):
    torch.manual_seed(0)
    layer = randomize(CoordAttention(64, reduction=4)).double()
    x = torch.randn(shape, dtype=torch.float64)
    out = layer(x)
    assert out.shape == x.shape
    torch.testing.assert_close(out, coord_attention_formula(x, layer))


@pytest.mark.parametrize(
    'channels, reduction, min_channels, mid',
    [(256, 32, 8, 8), (2048, 32, 8, 64), (64, 32, 8, 8), (64, 4, 8, 16), (96, 32, 1, 3)],
)
def test_reduced_width(channels, reduction, min_channels, mid):
    layer = CoordAttention(channels, reduction=reduction, min_channels=min_channels)
    assert layer.mid_channels == mid == layer.conv1.out_channels == layer.conv_h.in_channels


def _per_layer(c, bias=True):
    mid = max(8, c // 32)
    return c * mid + 2 * mid * c + (mid + 2 * c if bias else 0) + 2 * mid


@pytest.mark.parametrize('bias', [True, False])
def test_params_in_se_resnet50(bias):
    model = ours(dict(type='se_plugin.CoordAttention', bias=bias))
    assert num_params(model) == slot_params(partial(_per_layer, bias=bias))


def test_equals_timm_in_resnet50():
    from timm.layers.coord_attn import CoordAttn

    # the paper's width max(8, C // 32) for ResNet-50's widths (multiples of 256)
    peer = randomize(timm_resnet50(partial(CoordAttn, rd_ratio=1 / 32, se_factor=1.0)))
    model = ours(dict(type='se_plugin.CoordAttention', bias=False))
    assert num_params(model) == num_params(peer)
    copy_timm_weights(peer, model).eval()
    assert_same_features(peer, model)


def test_gates_and_hswish():
    layer = CoordAttention(16, reduction=2).eval()
    assert isinstance(layer.act, torch.nn.Hardswish) or type(layer.act).__name__ == 'HSwish'
    x = torch.randn(2, 16, 4, 6)
    a_h, a_w = layer.excitation(x)
    assert a_h.shape == (2, 16, 4, 1) and a_w.shape == (2, 16, 1, 6)
    assert a_h.min() > 0 and a_h.max() < 1
    torch.testing.assert_close(layer(x), x * a_h * a_w)


def test_build_as_plugin_and_without_norm():
    layer = MODELS.build(dict(type='CoordAttention', in_channels=64, norm_cfg=None))
    assert isinstance(layer, CoordAttention) and isinstance(layer.bn1, torch.nn.Identity)


@pytest.mark.parametrize(
    'kwargs, error, match',
    [
        (dict(reduction=0), ValueError, 'reduction must be an int >= 1, got 0'),
        (dict(reduction=2.5), TypeError, 'reduction must be an int'),
        (dict(min_channels=0), ValueError, 'min_channels must be an int >= 1'),
        (dict(bias='yes'), TypeError, "bias must be a bool, got 'yes'"),
        (dict(act_cfg=dict(type='Sigmoid')), ValueError, 'Sigmoid'),
        (
            dict(norm_cfg=dict(type='NoSuchNorm')),
            ValueError,
            r"norm_cfg\['type'\] must be a registered norm type .*got 'NoSuchNorm'",
        ),
        (dict(in_channels=0), ValueError, 'in_channels must be an int >= 1'),
    ],
)
def test_bad_arguments(kwargs, error, match):
    kwargs = dict(dict(in_channels=32), **kwargs)
    with pytest.raises(error, match=match):
        CoordAttention(**kwargs)


def test_bad_input_shape():
    with pytest.raises(ValueError, match=r'CoordAttention\(8\) expects an \(N, 8, H, W\) input'):
        CoordAttention(8)(torch.rand(1, 4, 3, 3))
