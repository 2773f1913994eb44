"""The fused SE / SK paths compute what the reference paths compute (values and gradients)."""

import contextlib
import copy

import pytest
import torch
import torch.nn as nn

from se_plugin.cli import load_config
from se_plugin.models import SEBasicBlock, SEBottleneck, SELayer, SEResNet, SKConv
from se_plugin.models.layers.fused import (
    FusedNormSqueezeScale,
    FusedSelectiveSum,
    FusedSqueezeScale,
    channel_dot,
    channel_sums,
    scale_shift,
)
from tests.models.semantics import randomize

SHAPES = [(2, 16, 7, 7), (3, 16, 1, 1), (2, 16, 5, 9), (1, 16, 21, 20), (2, 16, 2, 1)]
FORMATS = [torch.contiguous_format, torch.channels_last]
GATES = [('ReLU', 'Sigmoid'), ('PReLU', 'HSigmoid'), ('SiLU', 'Tanh')]


def pair(layer):
    """(reference, fused) copies of ``layer`` with the same parameters."""
    ref, fused = copy.deepcopy(layer), copy.deepcopy(layer)
    ref.impl, fused.impl = 'reference', 'fused'
    return ref, fused


def run(layer, x, grad):
    """Output and gradients (input, then parameters) of one forward/backward."""
    x = x.detach().clone().requires_grad_()
    layer.zero_grad(set_to_none=True)
    out = layer(x)
    out.backward(grad)
    return out.detach(), x.grad, [p.grad for p in layer.parameters()]


def assert_same_run(ref, fused, x, grad, **tol):
    out_r, gx_r, gp_r = run(ref, x, grad)
    out_f, gx_f, gp_f = run(fused, x, grad)
    torch.testing.assert_close(out_f, out_r, **tol)
    torch.testing.assert_close(gx_f, gx_r, **tol)
    assert len(gp_f) == len(gp_r) > 0
    for name, (a, b) in zip([n for n, _ in ref.named_parameters()], zip(gp_f, gp_r)):
        torch.testing.assert_close(a, b, msg=lambda m, name=name: f'{name}: {m}', **tol)
    return out_f, gx_f


@pytest.mark.parametrize('memory_format', FORMATS, ids=['nchw', 'channels_last'])
@pytest.mark.parametrize('shape', SHAPES, ids=lambda s: 'x'.join(map(str, s)))
@pytest.mark.parametrize('op', ['avg', 'max', 'avgmax'])
def test_fused_se_matches_reference(op, shape, memory_format):
    torch.manual_seed(0)
    ref, fused = pair(SELayer(shape[1], ratio=4, divisor=1, squeeze=op))
    x = torch.randn(shape).contiguous(memory_format=memory_format)
    grad = torch.randn(shape).contiguous(memory_format=memory_format)
    out, grad_x = assert_same_run(ref, fused, x, grad, rtol=1e-4, atol=1e-5)
    assert out.is_contiguous(memory_format=memory_format) or shape[2] * shape[3] == 1


@pytest.mark.parametrize('acts', GATES, ids=lambda a: '-'.join(a))
def test_fused_se_matches_reference_for_other_activations(acts):
    torch.manual_seed(0)
    layer = SELayer(16, ratio=4, divisor=1, act_cfg=tuple(dict(type=a) for a in acts), bias=False)
    ref, fused = pair(layer)
    x, grad = torch.randn(2, 16, 6, 6), torch.randn(2, 16, 6, 6)
    assert_same_run(ref, fused, x, grad, rtol=1e-4, atol=1e-5)


def test_max_squeeze_ties_split_the_gradient_like_amax():
    """A channel of ReLU zeros has all positions tied for the max."""
    ref, fused = pair(SELayer(8, ratio=2, divisor=1, squeeze='max'))
    x = torch.randn(2, 8, 4, 4).relu()
    x[0, 3] = 0.0
    x[1, 5, :2] = 2.5
    assert_same_run(ref, fused, x, torch.randn(2, 8, 4, 4), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize('op', ['avg', 'max', 'avgmax'])
def test_fused_se_gradcheck_float64(op):
    torch.manual_seed(0)
    layer = SELayer(6, ratio=2, divisor=1, squeeze=op).double()
    x = torch.randn(2, 6, 3, 4, dtype=torch.float64, requires_grad=True)
    params = tuple(layer.parameters())

    def fn(x, *params):  # layer(x) reads the very tensors gradcheck perturbs
        return FusedSqueezeScale.apply(x, None, layer, *params)

    assert torch.autograd.gradcheck(fn, (x, *params), eps=1e-6, atol=1e-5)


def test_fused_se_inference_and_frozen_parameters():
    torch.manual_seed(0)
    ref, fused = pair(SELayer(16, ratio=4, divisor=1))
    x = torch.randn(2, 16, 5, 5)
    with torch.no_grad():
        torch.testing.assert_close(fused(x), ref(x))
    # frozen layer, input needing a gradient
    for layer in (ref, fused):
        layer.requires_grad_(False)
    _, gx_r, _ = run(ref, x, torch.ones_like(x))
    _, gx_f, _ = run(fused, x, torch.ones_like(x))
    torch.testing.assert_close(gx_f, gx_r)
    # trainable layer, input without gradient (e.g. after frozen stages)
    for layer in (ref, fused):
        layer.requires_grad_(True)
        layer(x).sum().backward()
    for p_r, p_f in zip(ref.parameters(), fused.parameters()):
        torch.testing.assert_close(p_f.grad, p_r.grad)


def test_fused_se_plain_graph_when_compiling(monkeypatch):
    """Under torch.compile the fused layer runs plain ops (no custom Function)."""
    fused = SELayer(16, ratio=4, divisor=1)
    x = torch.randn(2, 16, 5, 5, requires_grad=True)
    assert type(fused(x).grad_fn).__name__ == 'FusedSqueezeScaleBackward'
    monkeypatch.setattr(torch.compiler, 'is_compiling', lambda: True)
    out = fused(x)
    assert 'Fused' not in type(out.grad_fn).__name__
    ref, _ = pair(fused)
    torch.testing.assert_close(out, ref(x))


def test_fused_se_with_gradient_checkpointing():
    torch.manual_seed(0)
    model = SEResNet(
        depth=18,
        base_channels=8,
        stem_channels=8,
        with_cp=True,
        num_stages=1,
        strides=(1,),
        dilations=(1,),
        out_indices=(0,),
    ).double()
    ref = copy.deepcopy(model)
    for layer in ref.modules():
        if isinstance(layer, SELayer):
            layer.impl = 'reference'
    x = torch.randn(2, 3, 32, 32, dtype=torch.float64)
    grads = []
    for net in (ref, model):
        net.train()
        net(x)[0].square().sum().backward()
        grads.append([p.grad for p in net.parameters()])
    for a, b in zip(*grads):
        torch.testing.assert_close(b, a)


def test_fused_se_under_bf16_autocast():
    torch.manual_seed(0)
    ref, fused = pair(SELayer(16, ratio=4, divisor=1))
    x, grad = torch.randn(2, 16, 6, 6), torch.randn(2, 16, 6, 6)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        assert_same_run(ref, fused, x, grad, rtol=0.05, atol=0.05)


@pytest.mark.parametrize('memory_format', FORMATS, ids=['nchw', 'channels_last'])
@pytest.mark.parametrize('shape', [(2, 8, 7, 7), (2, 8, 21, 20), (3, 8, 1, 1), (2, 8, 3, 5)])
def test_channel_dot(shape, memory_format):
    a = torch.randn(shape).contiguous(memory_format=memory_format)
    b = torch.randn(shape).contiguous(memory_format=memory_format)
    torch.testing.assert_close(channel_dot(a, b), (a * b).sum((2, 3)))
    torch.testing.assert_close(
        channel_dot(a, b.transpose(2, 3).contiguous().transpose(2, 3)), (a * b).sum((2, 3))
    )  # mixed layouts: the plain fallback
    torch.testing.assert_close(
        channel_dot(a.bfloat16(), b.bfloat16()).float(), (a * b).sum((2, 3)), rtol=0.02, atol=0.1
    )


@pytest.mark.parametrize('memory_format', FORMATS, ids=['nchw', 'channels_last'])
@pytest.mark.parametrize('shape', [(2, 8, 7, 7), (3, 8, 1, 1), (2, 8, 3, 5)])
@pytest.mark.parametrize('dtype', [torch.float32, torch.float64, torch.bfloat16])
def test_scale_shift(shape, memory_format, dtype):
    x = torch.randn(shape, dtype=dtype).contiguous(memory_format=memory_format)
    scale, shift = torch.randn(shape[:2], dtype=dtype), torch.randn(shape[:2], dtype=dtype)
    out = scale_shift(x, scale, shift)
    expected = x.double() * scale.double()[..., None, None] + shift.double()[..., None, None]
    tol = dict(rtol=0.02, atol=0.02) if dtype == torch.bfloat16 else {}
    torch.testing.assert_close(out.double(), expected, **tol)
    assert out.shape == x.shape and out.dtype == dtype


@pytest.mark.parametrize('memory_format', FORMATS, ids=['nchw', 'channels_last'])
@pytest.mark.parametrize('num_paths', [2, 3])
@pytest.mark.parametrize('shape', [(2, 16, 7, 7), (2, 16, 5, 9), (3, 16, 1, 1), (2, 16, 21, 20)])
def test_fused_sk_matches_reference(num_paths, shape, memory_format):
    """In float64: the fuse FC's batch norm over a few samples amplifies fp32 rounding."""
    torch.manual_seed(0)
    layer = SKConv(16, 32, num_paths=num_paths, groups=4).double()
    nn.init.normal_(layer.select.weight, std=0.5)  # non-uniform path weights
    ref, fused = pair(layer)
    x = torch.randn(shape, dtype=torch.float64).contiguous(memory_format=memory_format)
    grad = torch.randn(shape[0], 32, *shape[2:], dtype=torch.float64)
    grad = grad.contiguous(memory_format=memory_format)
    assert_same_run(ref, fused, x, grad)
    for (name, b_r), b_f in zip(ref.named_buffers(), fused.buffers()):  # BN statistics
        torch.testing.assert_close(b_f, b_r, msg=name)
    ref.eval(), fused.eval()
    with torch.no_grad():
        torch.testing.assert_close(fused(x), ref(x))


def test_fused_sk_matches_reference_in_float32():
    torch.manual_seed(0)
    ref, fused = pair(SKConv(16, 32, num_paths=2, groups=4))
    x, grad = torch.randn(8, 16, 9, 9), torch.randn(8, 32, 9, 9)
    assert_same_run(ref, fused, x, grad, rtol=1e-3, atol=1e-4)


def test_fused_sk_gradcheck_float64():
    torch.manual_seed(0)
    layer = SKConv(4, 8, num_paths=2, groups=2, min_channels=4).double()
    layer.fuse.bn.eval()  # a fixed affine map: gradcheck needs a deterministic function
    feats = [torch.randn(2, 8, 3, 3, dtype=torch.float64, requires_grad=True) for _ in range(2)]
    params = (*layer.fuse.parameters(), *layer.select.parameters())

    def fn(*inputs):
        return FusedSelectiveSum.apply(layer, *inputs)

    assert torch.autograd.gradcheck(fn, (*feats, *params), eps=1e-6, atol=1e-5)


def test_impl_switch_from_a_backbone_config(repo_root):
    cfg = load_config(
        f'{repo_root}/configs/se_resnet50_imagenet.py',
        {'model.backbone.attn_cfg.impl': 'reference', 'model.backbone.depth': 18},
    )
    backbone_cfg = dict(cfg.model.backbone)
    backbone_cfg.pop('type')
    model = SEResNet(**backbone_cfg)
    impls = {m.impl for m in model.modules() if isinstance(m, SELayer)}
    assert impls == {'reference'}
    default = SEResNet(depth=18)
    assert {m.impl for m in default.modules() if isinstance(m, SELayer)} == {'fused'}
    with pytest.raises(ValueError, match="impl must be one of 'fused', 'recompute', 'reference'"):
        SELayer(16, impl='triton')
    with pytest.raises(ValueError, match='impl'):
        SKConv(16, 16, groups=4, impl='fast')


@pytest.mark.parametrize('op', ['avg', 'max'])
@pytest.mark.parametrize('memory_format', FORMATS, ids=['nchw', 'channels_last'])
def test_fused_se_adds_a_residual_in_the_same_pass(op, memory_format):
    torch.manual_seed(0)
    ref, fused = pair(SELayer(16, ratio=4, divisor=1, squeeze=op))
    shape = (2, 16, 6, 5)
    assert fused._fast(torch.randn(shape)) and not ref._fast(torch.randn(shape))
    x, res, grad = (torch.randn(shape).contiguous(memory_format=memory_format) for _ in range(3))
    outs = []
    for layer in (ref, fused):
        xi, ri = x.clone().requires_grad_(), res.clone().requires_grad_()
        layer.zero_grad(set_to_none=True)
        out = layer(xi, residual=ri)
        out.backward(grad)
        outs.append((out.detach(), xi.grad, ri.grad, [p.grad for p in layer.parameters()]))
    (o_r, gx_r, gr_r, gp_r), (o_f, gx_f, gr_f, gp_f) = outs
    torch.testing.assert_close(o_r, x * ref.excitation(x) + res)
    torch.testing.assert_close(o_f, o_r)
    torch.testing.assert_close(gx_f, gx_r, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(gr_f, grad)
    for a, b in zip(gp_f, gp_r):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    # inference: the result may be written into x (a block's norm output)
    with torch.no_grad():
        expected = ref(x, residual=res)
        scratch = x.clone()
        out = fused(scratch, residual=res, inplace=True)
    torch.testing.assert_close(out, expected)
    assert out.data_ptr() == scratch.data_ptr()
    with pytest.raises(ValueError, match='no residual'):
        SELayer(16, ratio=4, return_weight=True)(x, residual=res)


@pytest.mark.parametrize('position', ['standard', 'pre', 'post', 'identity', 'after_conv2'])
@pytest.mark.parametrize('drop_path_rate', [0.0, 0.2])
def test_fused_blocks_match_reference_blocks(position, drop_path_rate, monkeypatch):
    from se_plugin.models import SEBottleneck

    calls = []
    apply = FusedNormSqueezeScale.apply
    monkeypatch.setattr(FusedNormSqueezeScale, 'apply', lambda *a: calls.append(1) or apply(*a))
    torch.manual_seed(0)
    downsample = nn.Sequential(nn.Conv2d(16, 32, 1, bias=False), nn.BatchNorm2d(32))
    block = SEBottleneck(
        16,
        32,
        attn_cfg=dict(type='se_plugin.SELayer', ratio=4, divisor=1),
        attn_position=position,
        downsample=downsample,
        drop_path_rate=drop_path_rate,
    ).double()
    ref = copy.deepcopy(block)
    ref.attn.impl = 'reference'
    x = torch.randn(4, 16, 6, 6, dtype=torch.float64)
    for net in (ref, block):  # eval: drop path off, running statistics
        net.eval()
    with torch.no_grad():
        torch.testing.assert_close(block(x), ref(x))
    results = []
    for net in (ref, block):
        net.train()
        torch.manual_seed(1)  # the same drop-path masks
        xi = x.clone().requires_grad_()
        out = net(xi)
        out.backward(torch.ones_like(out))
        results.append((out.detach(), xi.grad, [p.grad for p in net.parameters()]))
    (o_r, gx_r, gp_r), (o_f, gx_f, gp_f) = results
    torch.testing.assert_close(o_f, o_r)
    torch.testing.assert_close(gx_f, gx_r)
    for a, b in zip(gp_f, gp_r):
        torch.testing.assert_close(a, b)
    # the fused block (only) folds its last norm at the standard position, also
    # under a drop path (which then scales the attended branch), in eval and training
    assert len(calls) == (2 if position == 'standard' else 0)


def _block_pair(block_cls, norm_kwargs, **kwargs):
    """(reference, fused) blocks in float64 with non-trivial norm parameters and statistics."""
    torch.manual_seed(0)
    channels = 16 if block_cls is SEBasicBlock else 32
    block = block_cls(
        channels,
        channels,
        attn_cfg=dict(type='se_plugin.SELayer', ratio=4, divisor=1),
        norm_cfg=dict(type='BN', **norm_kwargs),
        **kwargs,
    ).double()
    randomize(block)
    ref = copy.deepcopy(block)
    ref.attn.impl = 'reference'
    return ref, block, channels


def _train_step(block, x, grad, training):
    block.train(training)
    block.zero_grad(set_to_none=True)
    xi = x.clone().requires_grad_()
    out = block(xi)
    out.backward(grad)
    grads = {name: p.grad for name, p in block.named_parameters()}
    return out.detach(), xi.grad, grads, {k: v.clone() for k, v in block.named_buffers()}


@pytest.mark.parametrize('memory_format', FORMATS, ids=['nchw', 'channels_last'])
@pytest.mark.parametrize('training', [True, False], ids=['train', 'eval'])
@pytest.mark.parametrize(
    'norm_kwargs',
    [{}, dict(momentum=None), dict(affine=False), dict(track_running_stats=False)],
    ids=['bn', 'cumulative', 'no-affine', 'no-running-stats'],
)
@pytest.mark.parametrize('block_cls', ['SEBasicBlock', 'SEBottleneck'])
def test_norm_folded_into_se_matches_the_reference_block(
    block_cls, norm_kwargs, training, memory_format, monkeypatch
):
    """FusedNormSqueezeScale: output, every gradient and the running statistics, twice."""
    block_cls = {'SEBasicBlock': SEBasicBlock, 'SEBottleneck': SEBottleneck}[block_cls]
    ref, fused, channels = _block_pair(block_cls, norm_kwargs)
    x = torch.randn(3, channels, 7, 6, dtype=torch.float64).contiguous(memory_format=memory_format)
    grad = torch.randn(3, channels, 7, 6, dtype=torch.float64)
    calls = []
    apply = FusedNormSqueezeScale.apply
    monkeypatch.setattr(FusedNormSqueezeScale, 'apply', lambda *a: calls.append(1) or apply(*a))
    for _ in range(2):  # the second step sees updated running statistics
        expected = _train_step(ref, x, grad, training)
        got = _train_step(fused, x, grad, training)
        torch.testing.assert_close(got[0], expected[0])
        torch.testing.assert_close(got[1], expected[1])
        assert got[2].keys() == expected[2].keys()
        for name in expected[2]:
            torch.testing.assert_close(got[2][name], expected[2][name], msg=name)
        for name in expected[3]:
            torch.testing.assert_close(got[3][name], expected[3][name], msg=name)
    assert len(calls) == 2  # both steps took FusedNormSqueezeScale
    assert got[0].is_contiguous(memory_format=memory_format)


@pytest.mark.parametrize('training', [True, False], ids=['train', 'eval'])
def test_norm_folded_into_se_gradcheck_float64(training):
    torch.manual_seed(0)
    layer = SELayer(6, ratio=2, divisor=1, act_cfg=(dict(type='PReLU'), dict(type='Sigmoid')))
    layer = layer.double()
    norm = nn.BatchNorm2d(6).double().train(training)
    norm.running_var.uniform_(0.5, 1.5)
    z = torch.randn(3, 6, 3, 4, dtype=torch.float64, requires_grad=True)
    residual = torch.randn(3, 6, 3, 4, dtype=torch.float64, requires_grad=True)
    gamma = torch.rand(6, dtype=torch.float64).add(0.5).requires_grad_()
    beta = torch.randn(6, dtype=torch.float64, requires_grad=True)
    params = tuple(layer.parameters())

    def fn(z, residual, gamma, beta, *params):
        return FusedNormSqueezeScale.apply(z, residual, gamma, beta, norm, layer, *params)

    assert torch.autograd.gradcheck(fn, (z, residual, gamma, beta, *params), eps=1e-6, atol=1e-5)


def test_norm_fold_with_zero_init_gamma_and_retain_graph():
    """bn3's weight starts at 0 (zero_init_residual); a retained graph backpropagates twice."""
    ref, fused, channels = _block_pair(SEBottleneck, {})
    for net in (ref, fused):
        nn.init.zeros_(net.norm3.weight)
    x = torch.randn(2, channels, 5, 5, dtype=torch.float64)
    grads = []
    for net in (ref, fused):
        xi = x.clone().requires_grad_()
        out = net(xi)
        first = torch.autograd.grad(out.sum(), [xi, net.norm3.weight], retain_graph=True)
        second = torch.autograd.grad(out.sum(), [xi, net.norm3.weight])
        for a, b in zip(first, second):
            torch.testing.assert_close(a, b)
        grads.append(first)
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b)
    assert grads[1][1].abs().sum() > 0  # gamma = 0 still gets a gradient


@pytest.mark.parametrize(
    'case', ['max-squeeze', 'sync-bn', 'no-grad', 'compiling', 'reference', 'hook', 'norm-hook']
)
def test_norm_fold_declines_what_it_does_not_cover(case, monkeypatch):
    z = torch.randn(2, 8, 4, 4, requires_grad=True)
    assert SELayer(8, ratio=2)._folds_norm(nn.BatchNorm2d(8), z)  # the control
    layer = SELayer(
        8,
        ratio=2,
        squeeze='max' if case == 'max-squeeze' else 'avg',
        impl='reference' if case == 'reference' else 'fused',
    )
    norm = nn.SyncBatchNorm(8) if case == 'sync-bn' else nn.BatchNorm2d(8)
    if case == 'hook':  # e.g. tools/analysis/excitation.py recording the layer's calls
        layer.register_forward_hook(lambda *args: None)
    if case == 'norm-hook':
        norm.register_forward_hook(lambda *args: None)
    context = contextlib.nullcontext()
    if case == 'no-grad':  # a norm in training mode: the fold needs the Function
        context = torch.no_grad()
    elif case == 'compiling':
        monkeypatch.setattr(torch.compiler, 'is_compiling', lambda: True)
    with context:
        folds = layer._folds_norm(norm, z) and layer._fast(z)
    assert not folds


@pytest.mark.parametrize('memory_format', FORMATS, ids=['nchw', 'channels_last'])
@pytest.mark.parametrize('shape', [(2, 8, 7, 7), (2, 8, 21, 20), (3, 8, 1, 1), (2, 8, 3, 5)])
def test_channel_sums(shape, memory_format):
    a = torch.randn(shape, dtype=torch.float64).contiguous(memory_format=memory_format)
    b = torch.randn(shape, dtype=torch.float64).contiguous(memory_format=memory_format)
    dot, total = channel_sums(a, b)
    torch.testing.assert_close(dot, (a * b).sum((2, 3)))
    torch.testing.assert_close(total, a.sum((2, 3)))


@pytest.mark.parametrize('hw', [(3, 3), (5, 5), (21, 20)])
@pytest.mark.parametrize('training', [True, False], ids=['train', 'eval'])
def test_norm_fold_under_bf16_autocast_is_as_accurate_as_the_reference(hw, training):
    """Each compared with fp32: bf16 outputs and gradients, z with a large mean (cancellation)."""
    torch.manual_seed(0)
    layer, norm = SELayer(16, ratio=4, divisor=1), nn.BatchNorm2d(16).train(training)
    nn.init.uniform_(norm.weight, 0.5, 1.5), nn.init.uniform_(norm.bias, -0.5, 0.5)
    norm.running_mean.fill_(2.0)
    z, res, grad = torch.randn(3, 16, *hw) * 2 + 2, torch.randn(3, 16, *hw), torch.randn(3, 16, *hw)

    def run(fused, dtype):
        se, bn = copy.deepcopy(layer), copy.deepcopy(norm)
        zi = z.to(dtype).detach().requires_grad_()
        context = torch.autocast('cpu', dtype=torch.bfloat16) if dtype != torch.float32 else None
        with context or contextlib.nullcontext():
            if fused:
                out = FusedNormSqueezeScale.apply(
                    zi, res.to(dtype), bn.weight, bn.bias, bn, se, *se.parameters()
                )
            else:
                se.impl = 'reference'
                out = se(bn(zi)) + res.to(dtype)
        out.backward(grad.to(dtype))
        return [out, zi.grad, bn.weight.grad, bn.bias.grad, *(p.grad for p in se.parameters())]

    truth = run(False, torch.float32)
    fused, plain = run(True, torch.bfloat16), run(False, torch.bfloat16)
    assert fused[0].dtype == plain[0].dtype == torch.bfloat16
    for a, b, t in zip(fused, plain, truth):
        err_fused = (a.float() - t).abs().max() / t.abs().max()
        err_plain = (b.float() - t).abs().max() / t.abs().max()
        assert err_fused <= 1.5 * err_plain + 2e-3
