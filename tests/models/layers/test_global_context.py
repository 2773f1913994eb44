from functools import partial

import pytest
import torch

from se_plugin.models import GlobalContext
from se_plugin.registry import MODELS
from tests.models.layers.resnet50_slot import (
    assert_same_features,
    copy_timm_weights,
    num_params,
    ours,
    randomize,
    slot_params,
)


def global_context_formula(x, layer, fusion, pooling):
    """GCNet Eq. 3 (and its 'scale' / 'avg' ablations), written out with loops (float64)."""
    n, c, h, w = x.shape
    out = torch.empty_like(x)
    for i in range(n):
        flat = x[i].reshape(c, h * w)
        if pooling == 'att':
            logits = layer.conv_attn.weight[0, :, 0, 0] @ flat + layer.conv_attn.bias[0]
            alpha = torch.exp(logits) / torch.exp(logits).sum()
            context = (flat * alpha).sum(1)
        else:
            context = flat.mean(1)
        hidden = layer.fc1.weight[:, :, 0, 0] @ context + layer.fc1.bias
        mu, var = hidden.mean(), hidden.var(unbiased=False)
        hidden = (hidden - mu) / torch.sqrt(var + layer.norm.eps)
        hidden = torch.relu(hidden * layer.norm.weight + layer.norm.bias)
        term = layer.fc2.weight[:, :, 0, 0] @ hidden + layer.fc2.bias
        if fusion == 'add':
            out[i] = x[i] + term[:, None, None]
        else:
            out[i] = x[i] * torch.sigmoid(term)[:, None, None]
    return out


@pytest.mark.parametrize('pooling', ['att', 'avg'])
@pytest.mark.parametrize('fusion', ['add', 'scale'])
@pytest.mark.parametrize('shape', [(2, 32, 5, 7), (1, 32, 1, 1)])
def test_the_papers_formula(shape, fusion, pooling):
    torch.manual_seed(0)
    layer = GlobalContext(32, ratio=1 / 4, fusion=fusion, pooling=pooling, zero_init_last=False)
    layer = randomize(layer).double()
    x = torch.randn(shape, dtype=torch.float64)
    out = layer(x)
    assert out.shape == x.shape
    torch.testing.assert_close(out, global_context_formula(x, layer, fusion, pooling))


def test_paper_init_is_the_identity_and_survives_a_backbone_init():
    layer = GlobalContext(64)
    x = torch.randn(2, 64, 4, 4)
    assert torch.equal(layer(x), x)
    assert not layer.fc2.weight.any() and not layer.fc2.bias.any() and layer.conv_attn.weight.any()
    assert not layer.conv_attn.bias.any()
    model = ours(dict(type='se_plugin.GlobalContext'))
    with torch.no_grad():  # as if trained, then re-initialised by the runner
        for p in model.parameters():
            p.add_(1.0)
    model.init_weights()
    for block in (model.layer1[0], model.layer4[2]):
        assert not block.attn.fc2.weight.any() and not block.attn.fc2.bias.any()
    scale = GlobalContext(64, fusion='scale')
    torch.testing.assert_close(scale(x), x * 0.5)
    assert GlobalContext(64, zero_init_last=False).fc2.weight.any()


def test_an_init_cfg_replaces_the_paper_init():
    layer = GlobalContext(64, init_cfg=dict(type='Constant', val=0.25, layer='Conv2d'))
    layer.init_weights()
    assert (layer.fc2.weight == 0.25).all() and (layer.conv_attn.weight == 0.25).all()


@pytest.mark.parametrize(
    'channels, ratio, hidden', [(256, 1 / 16, 16), (2048, 1 / 16, 128), (64, 1 / 4, 16)]
)
def test_hidden_width(channels, ratio, hidden):
    layer = GlobalContext(channels, ratio=ratio)
    assert layer.hidden_channels == hidden == layer.fc1.out_channels == layer.norm.weight.numel()


def _per_layer(c, pooling='att'):
    h = c // 16
    attn = c + 1 if pooling == 'att' else 0
    return attn + (c * h + h) + 2 * h + (h * c + c)


@pytest.mark.parametrize('pooling', ['att', 'avg'])
def test_params_in_se_resnet50(pooling):
    model = ours(dict(type='se_plugin.GlobalContext', pooling=pooling))
    assert num_params(model) == slot_params(partial(_per_layer, pooling=pooling))


# timm GlobalContext keys -> ours (timm's 'gca': one add MLP, no scale MLP)
TIMM_RENAME = ((r'\.se\.mlp_add\.', '.attn.'),)


@pytest.mark.parametrize('fusion', ['add', 'scale'])
def test_equals_timm_in_resnet50(fusion):
    from timm.layers.global_context import GlobalContext as TimmGlobalContext

    from tests.models.layers.resnet50_slot import timm_resnet50

    kwargs = dict(fuse_add=True, fuse_scale=False) if fusion == 'add' else {}
    peer = randomize(timm_resnet50(partial(TimmGlobalContext, rd_ratio=1 / 16, **kwargs)))
    model = ours(dict(type='se_plugin.GlobalContext', fusion=fusion))
    assert num_params(model) == num_params(peer)
    rename = TIMM_RENAME if fusion == 'add' else ((r'\.se\.mlp_scale\.', '.attn.'),)
    copy_timm_weights(peer, model, rename).eval()
    for m in model.modules():
        if isinstance(m, GlobalContext):
            m.norm.eps = 1e-6  # timm's LayerNorm2d
    assert_same_features(peer, model)


def test_build_as_plugin():
    """mmdet/mmseg ResNet plugins pass in_channels (mmcv's ContextBlock's ratio convention)."""
    layer = MODELS.build(dict(type='GlobalContext', in_channels=64, ratio=1 / 4))
    assert isinstance(layer, GlobalContext) and layer.hidden_channels == 16


@pytest.mark.parametrize(
    'kwargs, error, match',
    [
        (dict(ratio=16), ValueError, r'must be in \[1, 32\], got 512 from ratio=16'),
        (dict(ratio=1 / 64), ValueError, 'got 0 from ratio'),
        (dict(ratio=0), ValueError, 'ratio must be a finite number > 0'),
        (dict(ratio='1/16'), TypeError, 'ratio must be a finite number'),
        (dict(fusion='mul'), ValueError, "fusion must be one of 'add', 'scale', got 'mul'"),
        (dict(pooling='max'), ValueError, "pooling must be one of 'att', 'avg'"),
        (dict(zero_init_last=1), TypeError, 'zero_init_last must be a bool'),
        (dict(act_cfg=dict(type='Tanh')), ValueError, 'Tanh'),
        (dict(in_channels=2.0), TypeError, 'in_channels must be an int'),
    ],
)
def test_bad_arguments(kwargs, error, match):
    kwargs = dict(dict(in_channels=32), **kwargs)
    with pytest.raises(error, match=match):
        GlobalContext(**kwargs)


def test_bad_input_shape():
    with pytest.raises(ValueError, match=r'GlobalContext\(16\) expects an \(N, 16, H, W\)'):
        GlobalContext(16)(torch.rand(2, 16, 3))
