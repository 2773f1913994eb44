"""Every attention path behaves as its reference: hooks, checkpointing, higher-order and
forward-mode AD, empty batches, tracing and export, autocast.

Each slot module as a layer keeps the slot's contract, checked by the public kit
(:func:`se_plugin.testing.check_attention_module`, over ``CONTRACT_CASES``: every
implementation mode against ``impl='reference'``, hooks, with_cp, double backward,
forward-mode AD, empty batches, trace, export, autocast, ...), and computes its paper's
formula. The other cases of :mod:`tests.models.semantics` (SKConv, each module in
blocks and backbones, AttentionInjected) run the tests below, which compare the
default model (fused Functions, or the norm and module recomputed in the backward)
with its reference twin: ``impl='reference'``, and the paper's formula
(``FORMULAS``) where there is one.
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch.autograd import forward_ad as fwAD

from se_plugin.models import CBAM, SEBasicBlock, SELayer, SKConv
from se_plugin.models.backbones.blocks import AttentionSlotMixin
from se_plugin.models.layers import ATTENTION_LAYERS, AttentionModule, recompute
from se_plugin.models.layers.fused import FusedNormSqueezeScale, FusedSqueezeScale
from se_plugin.registry import MODELS
from se_plugin.testing import PROPERTIES, check_attention_module
from tests.models.semantics import ATTENTION, CASES, CONTRACT_CASES, FORMULAS, build, flat

NAMES = sorted(CASES)
CP_NAMES = [name for name in NAMES if CASES[name].with_cp]
# the slot modules as layers: the kit checks them (test_every_slot_module_keeps_the_contract)
KIT_LAYERS = [f'layer:{name}' for name in ATTENTION]
BEYOND_KIT = [name for name in NAMES if name not in KIT_LAYERS]
# a slot module as a layer whose reference twin is its paper's formula
FORMULA_LAYERS = [
    f'layer:{name}' for name, cfg in ATTENTION.items() if MODELS.get(cfg['type']) in FORMULAS
]


@pytest.mark.parametrize('name', sorted(CONTRACT_CASES))
def test_every_slot_module_keeps_the_contract(name):
    """Each built-in slot module in each mode (and its variants) passes the kit, refusing
    no derivative, and with ``impl='recompute'`` is recomputed in a block's backward."""
    cfg, kwargs = CONTRACT_CASES[name]
    report = check_attention_module(cfg, **kwargs)
    assert list(report) == list(PROPERTIES)
    assert not any('refused' in outcome or 'declines' in outcome for outcome in report.values())
    assert report['in_block'] == 'ok'


@pytest.mark.parametrize('name', sorted(ATTENTION))
def test_every_attention_module_has_a_reference_twin(name):
    """The control: each module is compared with another implementation of its function."""
    model, reference, _ = build(f'layer:{name}')
    if type(model) in FORMULAS:
        assert reference.forward.__func__ is FORMULAS[type(model)]
        assert 'forward' not in vars(model)
    assert model.impl != 'reference' and reference.impl == 'reference'


def step(model, x, train=True, create_graph=False):
    """Output, input gradient, parameter gradients and buffers after one backward."""
    model.train(train)
    model.zero_grad(set_to_none=True)
    x = x.clone().requires_grad_()
    torch.manual_seed(2)  # the same drop-path masks
    out = flat(model(x))
    weights = torch.linspace(-1, 1, out.numel(), dtype=out.dtype)
    (out * weights).sum().backward(create_graph=create_graph)
    grads = {n: p.grad for n, p in model.named_parameters() if p.grad is not None}
    return out.detach(), x.grad, grads, {n: b.clone() for n, b in model.named_buffers()}


def assert_same(got, expected, **tol):
    out, gx, grads, buffers = got
    torch.testing.assert_close(out, expected[0], **tol)
    torch.testing.assert_close(gx, expected[1], **tol)
    assert grads.keys() == expected[2].keys()
    for name in grads:
        torch.testing.assert_close(grads[name], expected[2][name], msg=name, **tol)
    for name in buffers:
        torch.testing.assert_close(buffers[name], expected[3][name], msg=name, **tol)


@pytest.mark.parametrize('train', [True, False], ids=['train', 'eval'])
@pytest.mark.parametrize('name', BEYOND_KIT + FORMULA_LAYERS)
def test_matches_the_reference(name, train):
    """(A slot module as a layer: against its formula; its modes are the kit's ``impls``.)"""
    model, reference, x = build(name)
    for _ in range(2):  # the second step sees updated running statistics
        assert_same(step(model, x, train), step(reference, x, train))


def _record_hooks(model, log):
    handles = []
    for mod_name, module in model.named_modules():
        handles.append(
            module.register_forward_pre_hook(lambda m, a, n=mod_name: log.append(('pre', n)))
        )
        handles.append(
            module.register_forward_hook(
                lambda m, a, out, n=mod_name: log.append(
                    ('post', n, float(flat(out).detach().sum()))
                )
            )
        )
    return handles


@pytest.mark.parametrize('name', BEYOND_KIT)
def test_forward_hooks_fire_as_in_the_reference(name):
    model, reference, x = build(name)
    logs = [], []
    for net, log in zip((reference, model), logs):
        _record_hooks(net, log)
        step(net, x)
    assert [e[:2] for e in logs[1]] == [e[:2] for e in logs[0]]
    for got, expected in zip(*logs[::-1]):
        if got[0] == 'post':
            assert got[2] == pytest.approx(expected[2], rel=1e-9, abs=1e-9), got[1]


@pytest.mark.parametrize('where', ['norm', 'attention'])
@pytest.mark.parametrize('name', [n for n in NAMES if n.startswith(('bottleneck:', 'basic:'))])
def test_one_hook_on_the_last_norm_or_the_attention_fires(name, where):
    """A hook on the folded norm (AttentionInjected after bn3) or on the SE layer alone."""
    model, reference, x = build(name)
    seen, results = [], []
    for net in (reference, model):
        log = []
        target = net.last_norm if where == 'norm' else net.attn
        target.register_forward_hook(lambda m, a, out, log=log: log.append(out.detach().clone()))
        results.append(step(net, x))
        seen.append(log)
    assert len(seen[1]) == len(seen[0]) == 1
    torch.testing.assert_close(seen[1][0], seen[0][0])
    assert_same(results[1], results[0])


@pytest.mark.parametrize('name', CP_NAMES)
def test_checkpointing_recomputes_once_and_keeps_the_statistics(name, monkeypatch):
    plain = build(name)[0]
    model, reference, x = build(name, with_cp=True)
    calls = []
    inner = AttentionSlotMixin._inner_forward
    monkeypatch.setattr(
        AttentionSlotMixin, '_inner_forward', lambda self, x: calls.append(1) or inner(self, x)
    )
    expected = step(plain, x)
    blocks = len(calls)
    calls.clear()
    got = step(model, x)
    assert len(calls) == 2 * blocks > 0  # the forward, and one recomputation
    assert_same(got, expected)
    assert_same(step(reference, x), expected)


def _penalty_grads(model, x, train):
    """Gradients of ``|d out / d x|^2`` (a gradient penalty) w.r.t. x and the parameters."""
    model.train(train)
    x = x.clone().requires_grad_()
    out = flat(model(x))
    weights = torch.linspace(-1, 1, out.numel(), dtype=out.dtype)
    (gx,) = torch.autograd.grad((out * weights).sum(), x, create_graph=True)
    params = [p for p in model.parameters() if p.requires_grad]
    return torch.autograd.grad(gx.square().sum(), [x, *params], allow_unused=True)


@pytest.mark.parametrize('train', [True, False], ids=['train', 'eval'])
@pytest.mark.parametrize('name', BEYOND_KIT)
def test_double_backward_equals_the_reference(name, train):
    model, reference, x = build(name)
    if 'drop-path' in name:
        train = False  # random masks differ between the two forwards
    got, expected = _penalty_grads(model, x, train), _penalty_grads(reference, x, train)
    for a, b in zip(got, expected):
        if b is None:
            assert a is None or not a.any()
        else:
            torch.testing.assert_close(a, b)


# the slot modules' second derivatives are the kit's (double_backward, against finite
# differences); these are SKConv's and a block's
GRADGRAD = {
    'sk': lambda: SKConv(4, 4, groups=2, min_channels=2),
    'basic': lambda: SEBasicBlock(
        4, 4, attn_cfg=dict(type='se_plugin.SELayer', ratio=2, divisor=1)
    ),
    'basic-cbam': lambda: SEBasicBlock(4, 4, attn_cfg=dict(type='se_plugin.CBAM', ratio=2)),
}


@pytest.mark.parametrize('train', [True, False], ids=['train', 'eval'])
@pytest.mark.parametrize('name', sorted(GRADGRAD))
def test_gradgradcheck(name, train):
    """Second derivatives w.r.t. the input against finite differences (float64)."""
    torch.manual_seed(0)
    model = GRADGRAD[name]().double().train(train)
    x = torch.randn(3, 4, 3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradgradcheck(lambda x: model(x), (x,), eps=1e-6, atol=1e-4)


@pytest.mark.parametrize('train', [True, False], ids=['train', 'eval'])
@pytest.mark.parametrize('name', BEYOND_KIT)
def test_forward_mode_ad(name, train):
    model, reference, x = build(name)
    torch.manual_seed(3)
    tangent = torch.randn_like(x)
    results = []
    for net in (model, reference):
        net.train(train and 'drop-path' not in name)
        with fwAD.dual_level():
            out = net(fwAD.make_dual(x, tangent))
            outs = out if isinstance(out, (tuple, list)) else (out,)
            results.append(torch.cat([fwAD.unpack_dual(o).tangent.flatten() for o in outs]))
    torch.testing.assert_close(results[0], results[1])


def _func_results(net, params, x, tangent) -> list:
    """torch.func on ``net`` (eval): jvp, grad w.r.t. the parameters, vmap over a batch axis."""

    def fn(p, x):
        return flat(torch.func.functional_call(net, p, (x,)))

    out, jvp_out = torch.func.jvp(lambda x: fn(params, x), (x,), (tangent,))
    grads = torch.func.grad(lambda p: fn(p, x).square().sum())(params)
    batched = torch.func.vmap(lambda xs: fn(params, xs), in_dims=1)(torch.stack([x, x.flip(0)], 1))
    return [out, jvp_out, batched, *(grads[key] for key in sorted(params))]


@pytest.mark.parametrize('name', NAMES)
def test_torch_func_jvp_grad_and_vmap(name):
    model, reference, x = build(name)
    model.eval(), reference.eval()
    params = {k: v.detach() for k, v in model.named_parameters()}
    tangent = torch.randn_like(x)
    got = _func_results(model, params, x, tangent)
    expected = _func_results(reference, params, x, tangent)
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize('train', [True, False], ids=['train', 'eval'])
@pytest.mark.parametrize('name', BEYOND_KIT)
def test_empty_batch(name, train):
    model, reference, x = build(name)
    empty = x[:0].clone().requires_grad_()
    for net in (model, reference):
        net.train(train)
        out = net(empty)
        flat(out).sum().backward()
        assert empty.grad.shape == empty.shape
        outs = out if isinstance(out, (tuple, list)) else (out,)
        assert all(o.shape[0] == 0 for o in outs)
        with torch.no_grad():
            net(x[:0])


def _no_python_op(graph) -> bool:
    return not any(node.kind() == 'prim::PythonOp' for node in graph.nodes())


@pytest.mark.parametrize('name', BEYOND_KIT)
def test_trace_sees_the_plain_graph(name):
    model, reference, x = build(name)
    model.eval(), reference.eval()
    with torch.no_grad():
        expected = flat(reference(x))
    traced = torch.jit.trace(model, x, check_trace=False)
    assert _no_python_op(traced.inlined_graph)
    with torch.no_grad():
        torch.testing.assert_close(flat(traced(x)), expected)
    x2 = torch.randn_like(x)
    with torch.no_grad():
        torch.testing.assert_close(flat(traced(x2)), flat(reference(x2)))


EXPORT_NAMES = ['layer:sk-stride2', 'bottleneck:SELayer:standard', 'se_resnet18:SELayer']
EXPORT_NAMES += ['bottleneck:CBAM:standard', 'sknet26']


@pytest.mark.parametrize('name', EXPORT_NAMES)
def test_export_sees_the_plain_graph(name):
    model, reference, x = build(name, dtype=torch.float32)
    model.eval(), reference.eval()
    exported = torch.export.export(model, (x,))
    ops = {str(node.target) for node in exported.graph.nodes if node.op == 'call_function'}
    assert not any('autograd' in op.lower() or 'python' in op.lower() for op in ops)
    with torch.no_grad():
        torch.testing.assert_close(flat(exported.module()(x)), flat(reference(x)))


def _cosine(run, truth) -> float:
    """Cosine similarity of a run's output and all its gradients with the fp32 run's."""
    parts = [run[0], run[1], *(run[2][key] for key in truth[2])]
    exact = [truth[0], truth[1], *truth[2].values()]
    a = torch.cat([p.float().flatten() for p in parts])
    b = torch.cat([p.float().flatten() for p in exact])
    return float(torch.nn.functional.cosine_similarity(a, b, dim=0))


@pytest.mark.parametrize('train', [True, False], ids=['train', 'eval'])
@pytest.mark.parametrize('name', BEYOND_KIT)
def test_autocast_bf16_is_as_accurate_as_the_reference(name, train):
    """Under bf16 autocast both paths round differently: each is compared with fp32.

    (Tiny training-mode nets with batch norm over 2-3 samples amplify bf16
    rounding, so the measure is the agreement of all outputs and gradients.)
    """
    model, reference, x = build(name, dtype=torch.float32)
    truth = step(copy.deepcopy(reference), x, train)
    runs = []
    for net in (model, reference):
        with torch.autocast('cpu', dtype=torch.bfloat16):
            runs.append(step(net, x, train))
    assert runs[0][0].dtype == runs[1][0].dtype
    fused, plain = _cosine(runs[0], truth), _cosine(runs[1], truth)
    assert fused >= plain - 0.05 and fused > 0.7, (fused, plain)
    if not train:
        torch.testing.assert_close(runs[0][0], runs[1][0], rtol=0.05, atol=0.05)


@pytest.mark.parametrize('name', ['bottleneck:SELayer:standard', 'basic:SELayer', 'se_resnet50'])
def test_the_norm_fold_runs_under_autocast(name, monkeypatch):
    model = build(name, dtype=torch.float32)[0]
    calls = []
    apply = FusedNormSqueezeScale.apply
    monkeypatch.setattr(FusedNormSqueezeScale, 'apply', lambda *a: calls.append(1) or apply(*a))
    with torch.autocast('cpu', dtype=torch.bfloat16):
        step(model, build(name, dtype=torch.float32)[2])
    assert calls


@pytest.mark.parametrize('op', ['avg', 'avgmax'])
@pytest.mark.parametrize('shape', [(2, 4, 56, 56), (2, 4, 7, 7)])
def test_fp16_squeeze_of_large_activations_is_finite(op, shape):
    """An fp16 sum of values near the fp16 maximum overflows; the squeeze accumulates in fp32."""

    torch.manual_seed(0)
    x = torch.full(shape, 60000.0).sub(torch.rand(shape) * 100).half()
    assert torch.isinf(x.sum((2, 3))).all()  # what a plain fp16 accumulation gives
    layer = SELayer(4, ratio=2, divisor=1, squeeze=op).half()
    for impl in ('fused', 'reference'):
        layer.impl = impl
        w = layer.excitation(x)
        assert torch.isfinite(w).all(), impl
        assert torch.isfinite(layer(x)).all(), impl
    expected = x.double().mean((2, 3))
    from se_plugin.models.layers.fused import spatial_mean

    torch.testing.assert_close(spatial_mean(x).double(), expected, rtol=1e-3, atol=0)


def test_fused_functions_are_used_by_default(monkeypatch):
    """The control: the semantic tests above compare two different paths."""
    model, _, x = build('layer:SELayer')
    calls = []
    apply = FusedSqueezeScale.apply
    monkeypatch.setattr(FusedSqueezeScale, 'apply', lambda *a: calls.append(1) or apply(*a))
    step(model, x)
    assert calls
    calls.clear()
    model.register_forward_hook(lambda *a: None)
    step(model, x)
    assert not calls  # a hook on the layer: the plain ops


@pytest.mark.parametrize('name', ['ECALayer', 'EffectiveSELayer'])
@pytest.mark.parametrize('case', ['layer:{}', 'bottleneck:{}:standard'])
def test_se_functions_run_ecas_and_eses_by_default(case, name, monkeypatch):
    """The control: ECA and eSE take SE's fused Functions (in a block, the norm fold)."""
    model, _, x = build(case.format(name))
    function = FusedSqueezeScale if case.startswith('layer') else FusedNormSqueezeScale
    calls = []
    apply = function.apply
    monkeypatch.setattr(function, 'apply', lambda *a: calls.append(1) or apply(*a))
    step(model, x)
    assert calls


@pytest.mark.parametrize(
    'name',
    ['layer:SimAM', 'bottleneck:SimAM:standard', 'se_resnet18:SimAM', 'layer:SimAM-fused'],
)
def test_fused_simam_is_used_by_default(name, monkeypatch):
    """The control for SimAM: its fused Function runs in training, not where it may not."""
    from se_plugin.models.layers.fused.simam import FusedSimAM

    model, _, x = build(name)
    calls = []
    apply = FusedSimAM.apply
    monkeypatch.setattr(FusedSimAM, 'apply', lambda *a: calls.append(1) or apply(*a))
    step(model, x)
    assert calls
    calls.clear()
    with torch.no_grad():
        model(x)
    torch.jit.trace(model, x, check_trace=False)
    assert not calls


RECOMPUTED = [name for name in ATTENTION_LAYERS if MODELS.get(name)(16).impl == 'recompute']


RECOMPUTE_CASES = [f'bottleneck:{name}:standard' for name in RECOMPUTED]
RECOMPUTE_CASES += ['basic:CBAM', 'bottleneck:CBAM:drop-path', 'se_resnet18:CBAM']
RECOMPUTE_CASES += ['bottleneck:SELayer-recompute:standard']


@pytest.mark.parametrize('name', RECOMPUTE_CASES)
def test_recompute_runs_by_default(name, monkeypatch):
    """The control: a block recomputes its last norm and such a module in the backward,
    not without a gradient to record, while tracing or with a hook on the module."""
    assert 'bottleneck:CBAM:standard' in RECOMPUTE_CASES
    model, _, x = build(name)
    calls = []
    run = recompute.checkpoint
    monkeypatch.setattr(recompute, 'checkpoint', lambda *a, **k: calls.append(1) or run(*a, **k))
    step(model, x)
    assert calls
    calls.clear()
    with torch.no_grad():
        model(x)
    torch.jit.trace(model, x, check_trace=False)
    for m in model.modules():
        if isinstance(m, AttentionModule):
            m.register_forward_hook(lambda *args: None)
    step(model, x)
    assert not calls


@pytest.mark.parametrize('with_cp', [False, True], ids=['recompute', 'with_cp'])
def test_the_module_is_recomputed_once(with_cp, monkeypatch):
    """The slot's recomputation and a block's own checkpoint never recompute twice."""
    model, _, x = build('bottleneck:CBAM:standard', with_cp=with_cp)
    forwards, checkpoints = [], []
    forward, run = CBAM.forward, recompute.checkpoint
    monkeypatch.setattr(CBAM, 'forward', lambda self, x: forwards.append(1) or forward(self, x))
    monkeypatch.setattr(
        recompute, 'checkpoint', lambda *a, **k: checkpoints.append(1) or run(*a, **k)
    )
    step(model, x)
    assert len(forwards) == 2  # the forward and one recomputation
    assert len(checkpoints) == (0 if with_cp else 1)
