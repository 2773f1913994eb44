import math
import types
from functools import partial

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from se_plugin.models import GatherExcite
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


def _window_mean(x, extent):
    """Mean over the window of 2e-1 positions per axis centred at stride e, inside the map."""
    n, c, h, w = x.shape
    rows, cols = math.ceil(h / extent), math.ceil(w / extent)
    out = x.new_empty(n, c, rows, cols)
    for i in range(rows):
        for j in range(cols):
            r0, c0 = i * extent - (extent - 1), j * extent - (extent - 1)
            window = x[:, :, max(r0, 0) : r0 + 2 * extent - 1, max(c0, 0) : c0 + 2 * extent - 1]
            out[:, :, i, j] = window.mean((2, 3))
    return out


def _nearest(g, size):
    """Nearest-neighbour upsampling: output position y reads input floor(y * h / H)."""
    h, w = g.shape[2:]
    rows = [y * h // size[0] for y in range(size[0])]
    cols = [x * w // size[1] for x in range(size[1])]
    return g[:, :, rows][:, :, :, cols]


def _bn(x, bn):
    shape = (1, -1, 1, 1)
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    return (x - bn.running_mean.view(shape)) * scale.view(shape) + bn.bias.view(shape)


def gather_excite_formula(x, layer):
    """The gather, the optional MLP, sigmoid and nearest excite, written out (float64, eval)."""
    if layer.variant == 'theta-minus':
        g = x.mean((2, 3), keepdim=True) if layer.extent == 0 else _window_mean(x, layer.extent)
    else:
        g, steps = x, len([m for m in layer.gather if isinstance(m, nn.Conv2d)])
        for i in range(1, steps + 1):
            conv = getattr(layer.gather, f'conv{i}')
            g = F.conv2d(
                g, conv.weight, stride=conv.stride, padding=conv.padding, groups=g.shape[1]
            )
            g = _bn(g, getattr(layer.gather, f'norm{i}'))
            g = torch.relu(g) if i < steps else g
    if layer.variant == 'theta-plus':
        hidden = torch.relu(
            torch.einsum('hc,nc...->nh...', layer.fc1.weight[:, :, 0, 0], g)
            + layer.fc1.bias.view(1, -1, 1, 1)
        )
        g = torch.einsum('ch,nh...->nc...', layer.fc2.weight[:, :, 0, 0], hidden)
        g = g + layer.fc2.bias.view(1, -1, 1, 1)
    return x * _nearest(torch.sigmoid(g), x.shape[2:])


CASES = [
    dict(variant='theta-minus', extent=0),
    dict(variant='theta-minus', extent=2),
    dict(variant='theta-minus', extent=4),
    dict(variant='theta-minus', extent=8),
    dict(variant='theta', extent=2),
    dict(variant='theta', extent=8),
    dict(variant='theta', extent=0, feat_size=(7, 5)),
    dict(variant='theta-plus', extent=4),
    dict(variant='theta-plus', extent=0, feat_size=(7, 5)),
]


@pytest.mark.parametrize('kwargs', CASES, ids=lambda k: f'{k["variant"]}-e{k["extent"]}')
def test_the_papers_formula(kwargs):
    torch.manual_seed(0)
    layer = randomize(GatherExcite(16, ratio=4, **kwargs)).double()
    x = torch.randn(2, 16, 7, 5, dtype=torch.float64)
    out = layer(x)
    assert out.shape == x.shape
    torch.testing.assert_close(out, gather_excite_formula(x, layer))


@pytest.mark.parametrize('extent, size, gathered', [(2, 7, 4), (4, 7, 2), (8, 7, 1), (8, 56, 7)])
@pytest.mark.parametrize('variant', ['theta-minus', 'theta'])
def test_gathered_size_is_the_input_over_the_extent(variant, extent, size, gathered):
    layer = GatherExcite(8, variant=variant, extent=extent)
    assert layer.gathered(torch.randn(2, 8, size, size)).shape == (2, 8, gathered, gathered)


def test_global_theta_minus_is_a_parameter_free_se_without_mlp():
    layer = GatherExcite(8, variant='theta-minus', extent=0)
    x = torch.randn(2, 8, 5, 5)
    assert num_params(layer) == 0
    torch.testing.assert_close(layer(x), x * torch.sigmoid(x.mean((2, 3), keepdim=True)))


def _per_layer(c, variant, extent):
    if variant == 'theta-minus':
        return 0
    per = int(math.log2(extent)) * (9 * c + 2 * c)  # depthwise 3x3 (no bias) + BN
    if variant == 'theta-plus':
        h = round(c / 16)
        per += c * h + h + h * c + c
    return per


@pytest.mark.parametrize('variant', ['theta-minus', 'theta', 'theta-plus'])
@pytest.mark.parametrize('extent', [2, 8])
def test_params_in_se_resnet50(variant, extent):
    model = ours(dict(type='se_plugin.GatherExcite', variant=variant, extent=extent))
    assert num_params(model) == slot_params(partial(_per_layer, variant=variant, extent=extent))


@pytest.fixture
def timm_ge(monkeypatch):
    """timm's GatherExcite class. timm 1.0.31 passes ``*dd`` (``'device', 'dtype'``)
    positionally to ``create_conv2d``, ``nn.BatchNorm2d`` (``extra_params=True``) and
    ``ConvMlp`` (``use_mlp=True``), a TypeError: while the test runs, the three drop
    those extra positionals."""
    from timm.layers import gather_excite as ge

    create_conv2d, conv_mlp = ge.create_conv2d, ge.ConvMlp
    patched_nn = types.SimpleNamespace(**vars(nn))
    patched_nn.BatchNorm2d = lambda num_features, *_, **kw: nn.BatchNorm2d(num_features, **kw)
    monkeypatch.setattr(ge, 'nn', patched_nn)
    monkeypatch.setattr(ge, 'create_conv2d', lambda i, o, *_, **kw: create_conv2d(i, o, **kw))
    monkeypatch.setattr(ge, 'ConvMlp', lambda i, h, *_, **kw: conv_mlp(i, h, **kw))
    return ge.GatherExcite


TIMM_VARIANTS = {
    'theta-minus': dict(extra_params=False, use_mlp=False),
    'theta': dict(extra_params=True, use_mlp=False),
    'theta-plus': dict(extra_params=True, use_mlp=True),
}
TIMM_RENAME = ((r'\.se\.mlp\.fc', '.attn.fc'),)


@pytest.mark.parametrize(
    'variant, extent',
    # not the global depthwise gather: it has one map size (ResNet-50 four), and timm's
    # pads it to 'same' (a 7x7 window at every position) where the paper's covers the map
    [('theta-minus', 0), ('theta-minus', 8), ('theta', 2), ('theta', 8), ('theta-plus', 8)],
)
def test_equals_timm_in_resnet50(variant, extent, timm_ge):
    kwargs = dict(TIMM_VARIANTS[variant], extent=extent)
    peer = randomize(timm_resnet50(partial(timm_ge, **kwargs)))
    model = ours(dict(type='se_plugin.GatherExcite', variant=variant, extent=extent))
    assert num_params(model) == num_params(peer)
    copy_timm_weights(peer, model, TIMM_RENAME).eval()
    assert_same_features(peer, model)


def test_build_as_plugin():
    layer = MODELS.build(dict(type='GatherExcite', in_channels=64, variant='theta', extent=2))
    assert isinstance(layer, GatherExcite) and layer.fc1 is None and len(layer.gather) == 2


@pytest.mark.parametrize(
    'kwargs, error, match',
    [
        (dict(variant='theta+'), ValueError, "variant must be one of 'theta-minus', 'theta'"),
        (dict(extent=3), ValueError, 'extent must be one of 0, 2, 4, 8, got 3'),
        (dict(extent=2.0), TypeError, 'extent must be one of 0, 2, 4, 8, got 2.0'),
        (dict(extent=0), ValueError, r'feat_size must be the \(H, W\) of the input'),
        (dict(extent=0, feat_size=(7, 7, 7)), ValueError, r'feat_size must be an int or \(H, W\)'),
        (dict(extent=0, feat_size=0), ValueError, r'feat_size\[0\] must be an int >= 1'),
        (
            dict(feat_size=7),
            ValueError,
            'feat_size must be None unless the global gather has parameters',
        ),
        (dict(ratio=0), ValueError, 'ratio must be a finite number > 0'),
        (dict(ratio=0.5), ValueError, r'squeeze width must be in \[1, in_channels=32\], got 64'),
        (dict(divisor=0), ValueError, 'divisor must be an int >= 1'),
        (dict(act_cfg=dict(type='Sigmoid')), ValueError, 'Sigmoid'),
        (
            dict(norm_cfg=dict(type='Nope')),
            ValueError,
            r"norm_cfg\['type'\] must be a registered norm type .*got 'Nope'",
        ),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        GatherExcite(32, **kwargs)


def test_bad_input():
    with pytest.raises(ValueError, match=r'built for feat_size=\(7, 7\).*got an input of size'):
        GatherExcite(8, extent=0, feat_size=7)(torch.rand(1, 8, 5, 5))
    with pytest.raises(ValueError, match=r'GatherExcite\(8\) expects an \(N, 8, H, W\)'):
        GatherExcite(8)(torch.rand(1, 4, 5, 5))
