"""Tests of se_plugin.models.layers.sk_conv (SKConv)."""

import pytest
import torch
import torch.nn as nn
from mmpretrain.registry import MODELS as MMPRETRAIN_MODELS

from se_plugin.models import SKConv
from se_plugin.models.layers.fused import conv_on_stride_grid
from se_plugin.registry import MODELS


def paper_forward(layer: SKConv, x: torch.Tensor) -> torch.Tensor:
    """SKNet Sec. 3.1 written out with a stack: split, fuse, select."""
    u = torch.stack([path(x) for path in layer.paths], dim=1)  # (N, M, C, H, W)
    s = u.sum(1).mean((2, 3), keepdim=True)
    z = layer.fuse.activate(layer.fuse.bn(layer.fuse.conv(s)))
    n, m, c = u.shape[:3]
    a = layer.select(z).view(n, m, c, 1, 1).softmax(dim=1)
    return (a * u).sum(1)


@pytest.mark.parametrize('num_paths', [1, 2, 3])
@pytest.mark.parametrize('stride', [1, 2])
@pytest.mark.parametrize(
    'in_channels, out_channels, groups', [(32, 32, 32), (64, 128, 8), (16, 48, 4), (8, 8, 1)]
)
def test_output_shape(num_paths, stride, in_channels, out_channels, groups):
    layer = SKConv(in_channels, out_channels, stride=stride, num_paths=num_paths, groups=groups)
    out = layer(torch.rand(2, in_channels, 9, 9))
    size = 9 if stride == 1 else 5
    assert out.shape == (2, out_channels, size, size)
    assert len(layer.paths) == num_paths


@pytest.mark.parametrize('num_paths', [1, 2, 3])
def test_paths_are_grouped_dilated_3x3_with_norm_and_act(num_paths):
    layer = SKConv(64, 64, num_paths=num_paths, groups=16)
    for i, path in enumerate(layer.paths):
        assert path.conv.kernel_size == (3, 3)
        assert path.conv.dilation == (i + 1, i + 1)
        assert path.conv.padding == (i + 1, i + 1)
        assert path.conv.groups == 16
        assert path.conv.bias is None
        assert isinstance(path.bn, nn.BatchNorm2d)
        assert isinstance(path.activate, nn.ReLU)


def test_base_dilation_scales_every_path():
    layer = SKConv(32, 32, num_paths=3, dilation=2)
    assert [p.conv.dilation[0] for p in layer.paths] == [2, 4, 6]
    assert layer(torch.rand(2, 32, 8, 8)).shape == (2, 32, 8, 8)


@pytest.mark.parametrize(
    'out_channels, ratio, min_channels, expected',
    [
        (128, 16, 32, 32),
        (1024, 16, 32, 64),
        (2048, 16, 32, 128),
        (256, 8, 32, 32),
        (256, 4, 32, 64),
        (64, 16, 8, 8),
        (96, 2.5, 1, 38),
    ],
)
def test_fuse_width_is_max_of_c_over_r_and_l(out_channels, ratio, min_channels, expected):
    layer = SKConv(32, out_channels, ratio=ratio, min_channels=min_channels)
    assert layer.fuse_channels == expected
    assert layer.fuse.conv.out_channels == expected
    assert layer.select.in_channels == expected
    assert layer.select.out_channels == 2 * out_channels


def test_fuse_fc_carries_the_configured_norm_and_act():
    layer = SKConv(
        32, 64, groups=8, norm_cfg=dict(type='GN', num_groups=4), act_cfg=dict(type='SiLU')
    )
    assert isinstance(layer.fuse.gn, nn.GroupNorm)
    assert isinstance(layer.fuse.activate, nn.SiLU)
    assert layer.fuse.conv.bias is None
    assert layer.select.bias is None
    assert all(isinstance(p.activate, nn.SiLU) for p in layer.paths)
    layer.eval()
    assert layer(torch.rand(1, 32, 6, 6)).shape == (1, 64, 6, 6)


@pytest.mark.parametrize('num_paths', [2, 3, 4])
@pytest.mark.parametrize('stride, size', [(1, 8), (2, 8), (2, 9)])
def test_forward_matches_the_paper_formula(num_paths, stride, size):
    torch.manual_seed(0)
    layer = SKConv(32, 64, stride=stride, num_paths=num_paths, groups=8)
    layer.eval()
    for module in layer.modules():  # non-trivial statistics and weights
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    nn.init.normal_(layer.select.weight, std=0.5)
    x = torch.randn(2, 32, size, size)
    with torch.no_grad():
        torch.testing.assert_close(layer(x), paper_forward(layer, x))
        weights = layer.attention_weights(x)
    assert weights.std() > 0.01  # the check is not degenerate


@pytest.mark.parametrize('num_paths', [1, 2, 3])
def test_attention_weights_are_a_softmax_over_paths(num_paths):
    layer = SKConv(32, 64, num_paths=num_paths, groups=8)
    weights = layer.attention_weights(torch.randn(4, 32, 8, 8))
    assert weights.shape == (4, num_paths, 64, 1, 1)
    assert (weights >= 0).all()
    torch.testing.assert_close(weights.sum(1), torch.ones(4, 64, 1, 1))


@pytest.mark.parametrize('memory_format', [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize('size', [(7, 7), (8, 8), (9, 16), (15, 7), (5, 7)])
@pytest.mark.parametrize(
    'stride, dilation, padding, kernel',
    [(2, 2, 2, 3), (2, 4, 4, 3), (3, 3, 3, 3), ((2, 3), (2, 3), (2, 0), 3), (2, 2, 0, 2)],
)
def test_conv_on_stride_grid_equals_the_strided_conv(
    stride, dilation, padding, kernel, size, memory_format
):
    """Forward and both gradients, in float64, for even and odd sizes and 2-D strides."""
    torch.manual_seed(0)
    conv = nn.Conv2d(8, 12, kernel, stride, padding, dilation, groups=4, bias=True).double()
    x = torch.randn(2, 8, *size, dtype=torch.float64).contiguous(memory_format=memory_format)
    x.requires_grad_()
    expected = conv(x)
    out = conv_on_stride_grid(conv, x)
    assert out is not None and out.shape == expected.shape
    torch.testing.assert_close(out, expected)
    grad = torch.randn_like(expected)
    ref = torch.autograd.grad(expected, [x, conv.weight, conv.bias], grad)
    got = torch.autograd.grad(out, [x, conv.weight, conv.bias], grad)
    for r, g in zip(ref, got):
        torch.testing.assert_close(g, r)


class _MyConv(nn.Conv2d):
    pass


@pytest.mark.parametrize(
    'conv',
    [
        nn.Conv2d(4, 4, 3, 1, 2, 2),  # stride 1: nothing to gain
        nn.Conv2d(4, 4, 3, 2, 3, 3),  # dilation 3 not a multiple of stride 2
        nn.Conv2d(4, 4, 3, 2, 1, 2),  # padding 1 not a multiple of stride 2
        nn.Conv2d(4, 4, 3, 2, 2, 2, padding_mode='reflect'),
        _MyConv(4, 4, 3, 2, 2, 2),  # a subclass may do anything in forward
    ],
)
def test_conv_on_stride_grid_declines_other_convs(conv):
    assert conv_on_stride_grid(conv, torch.randn(1, 4, 8, 8)) is None


def test_one_path_has_no_selection_parameters():
    layer = SKConv(32, 32, num_paths=1)
    assert layer.fuse is None and layer.select is None
    names = [name for name, _ in layer.named_parameters()]
    assert all(name.startswith('paths.0.') for name in names)
    x = torch.randn(2, 32, 5, 5)
    torch.testing.assert_close(layer(x), layer.paths[0](x))


def test_parameter_count():
    c, d, g = 128, 32, 32
    path = c * c // g * 9 + 2 * c  # grouped 3x3 conv (no bias) + BN
    fuse = c * d + 2 * d  # 1x1 conv (no bias) + BN
    select = d * 2 * c  # 1x1 conv to M*C, no bias
    layer = SKConv(c, c)
    assert sum(p.numel() for p in layer.parameters()) == 2 * path + fuse + select


def test_gradients_reach_every_parameter():
    layer = SKConv(16, 32, num_paths=3, groups=4, min_channels=8)
    x = torch.randn(2, 16, 6, 6, requires_grad=True)
    layer(x).square().sum().backward()
    assert x.grad is not None
    for name, param in layer.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name


def test_registered_and_resolvable_from_mmpretrain():
    cfg = dict(in_channels=32, out_channels=32, groups=8)
    assert isinstance(MODELS.build(dict(type='SKConv', **cfg)), SKConv)
    assert isinstance(MMPRETRAIN_MODELS.build(dict(type='se_plugin.SKConv', **cfg)), SKConv)


@pytest.mark.parametrize(
    'kwargs, error, match',
    [
        (dict(in_channels=48), ValueError, r'in_channels=48 must be divisible by groups=32'),
        (dict(out_channels=40), ValueError, r'out_channels=40 must be divisible by groups=32'),
        (dict(groups=0), ValueError, r'groups must be an int >= 1, got 0'),
        (dict(num_paths=0), ValueError, r'num_paths must be an int >= 1, got 0'),
        (dict(num_paths=2.0), TypeError, r'num_paths must be an int >= 1, got 2.0'),
        (dict(num_paths=True), TypeError, r'num_paths must be an int'),
        (dict(ratio=0), ValueError, r'ratio must be a finite number > 0, got 0'),
        (dict(ratio=-4), ValueError, r'ratio must be a finite number > 0, got -4'),
        (dict(ratio='16'), TypeError, r'ratio must be a finite number'),
        (dict(min_channels=0), ValueError, r'min_channels must be an int >= 1, got 0'),
        (dict(min_channels=8.5), TypeError, r'min_channels must be an int'),
        (dict(stride=0), ValueError, r'stride must be an int >= 1'),
        (dict(dilation=0), ValueError, r'dilation must be an int >= 1'),
        (dict(in_channels='64'), TypeError, r'in_channels must be an int'),
        (
            dict(act_cfg=dict(type='Relu')),
            ValueError,
            r"act_cfg\['type'\] must be one of.*'ReLU'",
        ),
        (dict(act_cfg='ReLU'), TypeError, r"act_cfg must be a dict with a 'type' key"),
        (dict(norm_cfg=dict(requires_grad=True)), TypeError, r'norm_cfg must be a dict'),
        (dict(conv_cfg='Conv2d'), TypeError, r'conv_cfg must be a dict'),
    ],
)
def test_bad_arguments(kwargs, error, match):
    args = dict(in_channels=64, out_channels=64)
    args.update(kwargs)
    with pytest.raises(error, match=match):
        SKConv(**args)


@pytest.mark.parametrize(
    'kwargs, match',
    [
        (dict(norm_cfg=dict(type='GN')), r"norm_cfg\['num_groups'\] must be given for GroupNorm"),
        (
            dict(conv_cfg=dict(type='Conv1d')),
            r"conv_cfg\['type'\] must be a 2-D convolution .*got 'Conv1d'",
        ),
    ],
)
def test_norm_and_conv_configs_are_checked_at_build_time(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SKConv(16, 16, groups=4, **kwargs)


def test_split_input_feeds_each_path_its_chunk():
    """timm's split_input: path i reads channels [i C/M, (i+1) C/M) only."""
    torch.manual_seed(0)
    layer = SKConv(24, 12, num_paths=3, groups=2, min_channels=4, split_input=True).eval()
    assert [p.conv.in_channels for p in layer.paths] == [8, 8, 8]
    x = torch.randn(2, 24, 6, 6)
    with torch.no_grad():
        base = [path(x[:, 8 * i : 8 * (i + 1)]) for i, path in enumerate(layer.paths)]
        for i in range(3):
            moved = x.clone()
            moved[:, 8 * i : 8 * (i + 1)] += 1.0
            outs = [path(xi) for path, xi in zip(layer.paths, layer.path_inputs(moved))]
            changed = [not torch.equal(a, b) for a, b in zip(outs, base)]
            assert changed == [j == i for j in range(3)]
        u = torch.stack(base, 1)
        z = layer.fuse(u.sum(1).mean((2, 3), keepdim=True))
        a = layer.select(z).view(2, 3, 12, 1, 1).softmax(1)
        torch.testing.assert_close(layer(x), (a * u).sum(1))


@pytest.mark.parametrize('stride', [1, 2])
def test_split_input_fused_and_reference_agree(stride):
    torch.manual_seed(0)
    fused = SKConv(16, 16, stride=stride, groups=1, min_channels=4, split_input=True)
    ref = SKConv(
        16, 16, stride=stride, groups=1, min_channels=4, split_input=True, impl='reference'
    )
    ref.load_state_dict(fused.state_dict())
    x1 = torch.randn(4, 16, 8, 8, requires_grad=True)
    x2 = x1.detach().clone().requires_grad_()
    out1, out2 = fused(x1), ref(x2)
    torch.testing.assert_close(out1, out2)
    out1.square().sum().backward()
    out2.square().sum().backward()
    torch.testing.assert_close(x1.grad, x2.grad)
    for (name, p1), p2 in zip(fused.named_parameters(), ref.parameters()):
        torch.testing.assert_close(p1.grad, p2.grad, msg=name)


@pytest.mark.parametrize(
    'kwargs, error, match',
    [
        (
            dict(in_channels=15, split_input=True),
            ValueError,
            'in_channels=15 must be divisible by num_paths=2',
        ),
        (
            dict(in_channels=16, groups=16, split_input=True),
            ValueError,
            'in_channels / num_paths=8 must be divisible by groups=16',
        ),
        (dict(in_channels=16, split_input=1), TypeError, 'split_input must be a bool, got 1'),
    ],
)
def test_split_input_bad_arguments(kwargs, error, match):
    args = dict(out_channels=16, groups=1, min_channels=4)
    args.update(kwargs)
    with pytest.raises(error, match=match):
        SKConv(**args)
