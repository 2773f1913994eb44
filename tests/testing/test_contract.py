"""The contract kit: each kind of broken module fails it, named by the property it
breaks; well-behaved modules pass it (every built-in slot module in each of its modes:
tests/models/test_semantics.py)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from se_plugin.models import AttentionModule
from se_plugin.models.layers import ATTENTION_LAYERS, recompute
from se_plugin.models.layers.base import add_residual
from se_plugin.models.layers.fused import fused_function_allowed
from se_plugin.registry import MODELS
from se_plugin.testing import PROPERTIES, check_attention_module

FORMS = ('class', 'dict', 'name')


def given_as(name: str, form: str):
    """A built-in module as a class, a config dict or a registered name."""
    return {
        'class': MODELS.get(name),
        'dict': dict(type=f'se_plugin.{name}'),
        'name': name,
    }[form]


@pytest.mark.parametrize('form', FORMS)
@pytest.mark.parametrize('name', ATTENTION_LAYERS)
def test_each_form_names_the_module(name, form):
    """Class, dict and name build the same module (only its shape checked: cheap)."""
    others = tuple(p for p in PROPERTIES if p != 'shape')
    report = check_attention_module(given_as(name, form), skip=others)
    assert report['shape'] == 'ok'
    assert {report[p] for p in others} == {'skipped'}


class ChannelGate(nn.Module):
    """A plain SE-like gate without a hidden layer: the well-behaved base of the broken modules."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.fc = nn.Conv2d(in_channels, in_channels, 1)

    def gate(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.fc(x.mean((2, 3), keepdim=True)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)


class ModifiesItsInput(ChannelGate):
    def forward(self, x):
        return x.mul_(self.gate(x))


class FailsOnAnEmptyBatch(ChannelGate):
    def forward(self, x):
        pooled = x.reshape(x.shape[0], x.shape[1], -1).mean(-1)  # -1 is ambiguous for N = 0
        return x * torch.sigmoid(self.fc(pooled[:, :, None, None]))


class MixesSamples(ChannelGate):
    def forward(self, x):
        pooled = x.mean((2, 3), keepdim=True)
        # normalised over the batch, also in eval
        centred = pooled - pooled.mean(0)
        pooled = centred / (centred.square().mean(0) + 1e-5).sqrt()
        return x * torch.sigmoid(self.fc(pooled))


class AttentionGate(AttentionModule):
    """``ChannelGate`` as an :class:`AttentionModule`, opted into the recomputation."""

    def __init__(self, in_channels: int, impl: str = 'recompute', init_cfg=None) -> None:
        super().__init__(in_channels, impl, init_cfg)
        self.fc = nn.Conv2d(in_channels, in_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.fc(x.mean((2, 3), keepdim=True)))


class FastPathDiffers(AttentionGate):
    """Its fast path forgets the bias (and calls no ``fc``: a hook on it does not fire)."""

    impls = ('fused', 'reference')

    def __init__(self, in_channels: int, impl: str = 'fused') -> None:
        super().__init__(in_channels, impl)

    def forward(self, x):
        if self.impl == 'reference':
            return super().forward(x)
        pooled = x.mean((2, 3), keepdim=True)
        return x * torch.sigmoid(nn.functional.conv2d(pooled, self.fc.weight))


class SkipsTheNormInABlock(AttentionGate):
    def forward_after_norm(self, z, norm, residual=None):
        return add_residual(self(z), residual)


class SkipsItsHooksInABlock(AttentionGate):
    """Calls its ``forward`` without hooks (and without the recomputation it offers)."""

    def forward_after_norm(self, z, norm, residual=None):
        return add_residual(self.forward(norm(z)), residual)


class NeverRecomputes(AttentionGate):
    """Offers ``impl='recompute'`` (the default) but always runs the plain composition."""

    def forward_after_norm(self, z, norm, residual=None):
        return add_residual(self(norm(z)), residual)


class _Scale(torch.autograd.Function):
    """``x * w`` (a gate applied) with a right first-order backward and no ``jvp``."""

    @staticmethod
    def forward(x, w):
        return x * w

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs)
        ctx.save_for_forward(*inputs)

    @staticmethod
    def backward(ctx, grad):
        x, w = ctx.saved_tensors
        return grad * w, (grad * x).sum((2, 3), keepdim=True)


class _ScaleDetachedBackward(_Scale):
    """Right first derivatives, but its backward records no graph: a double backward
    silently misses the terms through it."""

    @staticmethod
    def backward(ctx, grad):
        x, w = ctx.saved_tensors
        return grad * w.detach(), (grad * x.detach()).sum((2, 3), keepdim=True)


class _ScaleOnceDifferentiable(_Scale):
    """torch's ``once_differentiable`` refuses a double backward only where the incoming
    gradient requires grad: under a gradient penalty of a fixed loss it records nothing."""

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        x, w = ctx.saved_tensors
        return grad * w, (grad * x).sum((2, 3), keepdim=True)


class _ScaleFirstOrderOnly(_Scale):
    @staticmethod
    def backward(ctx, grad):
        if torch.is_grad_enabled():  # a backward asked for a graph (create_graph=True)
            raise RuntimeError('RefusesHigherOrder: no double backward; use the plain module')
        x, w = ctx.saved_tensors
        return grad * w, (grad * x).sum((2, 3), keepdim=True)


class _ScaleWrongBackward(_Scale):
    @staticmethod
    def backward(ctx, grad):
        x, w = ctx.saved_tensors
        return grad * w, None  # forgets the gate's gradient


class _ScaleWrongJvp(_Scale):
    @staticmethod
    def jvp(ctx, dx, dw):
        x, w = ctx.saved_tensors
        return dx * w  # forgets x * dw


class GateThroughFunction(ChannelGate):
    """``x * gate(x)`` through ``function`` where se_plugin's fast paths run theirs
    (:func:`fused_function_allowed`), or with ``also_under_forward_ad`` wherever a
    gradient is recorded and no graph captured."""

    function = _Scale
    also_under_forward_ad = False

    def forward(self, x):
        if self.also_under_forward_ad:
            captured = torch.jit.is_tracing() or torch.compiler.is_exporting()
            use_function = torch.is_grad_enabled() and not captured
        else:
            use_function = fused_function_allowed(self.parameters(), x)
        return self.function.apply(x, self.gate(x)) if use_function else super().forward(x)


class BreaksDoubleBackward(GateThroughFunction):
    function = _ScaleDetachedBackward


class OnceDifferentiable(GateThroughFunction):
    function = _ScaleOnceDifferentiable


class RefusesHigherOrder(GateThroughFunction):
    """No double backward (a clear error) and no ``jvp`` (torch's clear error)."""

    function = _ScaleFirstOrderOnly
    also_under_forward_ad = True


class WrongGradient(GateThroughFunction):
    function = _ScaleWrongBackward


class WrongForwardAD(GateThroughFunction):
    function = _ScaleWrongJvp
    also_under_forward_ad = True


class ReturnsItsGate(ChannelGate):
    def forward(self, x):
        return self.gate(x)  # (N, C, 1, 1): a block still adds it to its shortcut


class SkipsItsHooks(ChannelGate):
    def __call__(self, x):
        return self.forward(x)


class RecomputesItselfAgain(ChannelGate):
    """Checkpoints itself (reentrant), also inside a checkpointed block: its convolution
    runs a third time (and ``torch.autograd.grad`` refuses a reentrant checkpoint)."""

    def forward(self, x):
        if torch.is_grad_enabled() and x.requires_grad:
            return torch.utils.checkpoint.checkpoint(super().forward, x, use_reentrant=True)
        return super().forward(x)


class AveragesItsGate(ChannelGate):
    """Keeps a running average of its gate in its own buffer (not a batch norm's)."""

    def __init__(self, in_channels: int) -> None:
        super().__init__(in_channels)
        self.register_buffer('gate_mean', torch.zeros(in_channels))

    def forward(self, x):
        gate = self.gate(x)
        if self.training and x.shape[0]:
            with torch.no_grad():
                self.gate_mean.lerp_(gate.mean((0, 2, 3)).to(self.gate_mean), 0.1)
        return x * gate


class SkipsItsGateUnderAutocast(ChannelGate):
    def forward(self, x):
        if torch.is_autocast_enabled('cpu'):
            return x * 0.5
        return super().forward(x)


class BranchesInPython(ChannelGate):
    """A Python branch on each sample's values: a trace bakes it in, export refuses it."""

    def forward(self, x):
        if not x.shape[0]:
            return x * self.gate(x)
        scales = [2.0 if float(xi.detach().mean()) > 0 else 1.0 for xi in x]
        return torch.stack([xi * s for xi, s in zip(x, scales)]) * self.gate(x)


class HookClosesOverItself(ChannelGate):
    """Its own hook reads ``self.scale``: a deep copy's hook reads the original's."""

    def __init__(self, in_channels: int) -> None:
        super().__init__(in_channels)
        self.scale = nn.Parameter(torch.ones(()))
        self.register_forward_hook(lambda m, args, out: out * self.scale)


class KeepsAPlainTensor(ChannelGate):
    """A temperature held as a plain attribute, neither parameter nor buffer."""

    def __init__(self, in_channels: int) -> None:
        super().__init__(in_channels)
        self.temperature = torch.rand(in_channels, 1, 1) + 0.5

    def forward(self, x):
        return x * torch.sigmoid(self.fc(x.mean((2, 3), keepdim=True)) / self.temperature)


@pytest.fixture
def registered_in_mmpretrain():
    """``ChannelGate`` registered in mmpretrain's registry (as a user's package does)."""
    from mmpretrain.registry import MODELS as MMPRETRAIN_MODELS

    MMPRETRAIN_MODELS.register_module('KitTestChannelGate', module=ChannelGate)
    yield 'KitTestChannelGate'
    MMPRETRAIN_MODELS._module_dict.pop('KitTestChannelGate')


def test_a_plain_module_registered_in_mmpretrain_passes(registered_in_mmpretrain):
    """The control: the base of the broken modules keeps the contract."""
    report = check_attention_module(registered_in_mmpretrain)
    assert report['impls'] == 'no implementation modes'
    config = dict(type='mmpretrain.KitTestChannelGate')
    assert check_attention_module(config, skip=('export',))['export'] == 'skipped'


@pytest.mark.parametrize('impl', AttentionGate.impls)
def test_an_attention_module_opted_into_recompute_passes(impl, monkeypatch):
    """The control of the broken AttentionModules; the kit's block steps run the
    recomputation (in any ``impl`` given, ``in_block`` runs each mode)."""
    calls, run = [], recompute.checkpoint
    monkeypatch.setattr(recompute, 'checkpoint', lambda *a, **k: calls.append(1) or run(*a, **k))
    report = check_attention_module(AttentionGate, impl=impl)
    assert report['in_block'] == 'ok'
    assert report['impls'] == 'modes recompute, reference'
    assert calls


@pytest.mark.parametrize(
    'name', [name for name in ATTENTION_LAYERS if 'recompute' in MODELS.get(name).impls]
)
def test_in_block_runs_the_recomputation_of_every_module_offering_it(name, monkeypatch):
    """The control of ``in_block``: its block train steps run ``impl='recompute'`` where the
    recomputation happens (the mechanism's checkpoint), for each built-in module."""
    calls, run = [], recompute.checkpoint
    monkeypatch.setattr(recompute, 'checkpoint', lambda *a, **k: calls.append(1) or run(*a, **k))
    others = tuple(p for p in PROPERTIES if p != 'in_block')
    assert check_attention_module(name, skip=others)['in_block'] == 'ok'
    assert calls


def test_recompute_declined_by_the_mechanism_is_a_note():
    """A module with a hook of its own is not recomputed (the hook would fire twice)."""

    class HooksItself(AttentionGate):
        def __init__(self, in_channels: int, impl: str = 'recompute') -> None:
            super().__init__(in_channels, impl)
            self.register_forward_hook(lambda m, args, out: None)

    report = check_attention_module(HooksItself)
    assert report['in_block'] == "impl='recompute' declines in this block (hooks): not recomputed"


def broken_properties(module, **kwargs) -> dict:
    """The properties the kit's AssertionError names, with their reasons."""
    with pytest.raises(AssertionError) as error:
        check_attention_module(module, **kwargs)
    lines = str(error.value).splitlines()
    assert 'properties of the attention-slot contract' in lines[0]
    return dict(line[2:].split(': ', 1) for line in lines[1:])


# (module, the properties it breaks, the one it is written to break, a part of the reason)
BROKEN = [
    (ReturnsItsGate, {'shape', 'empty_batch', 'hooks'}, 'shape', 'gave a (3, 16, 1,'),
    (SkipsItsHooks, {'hooks'}, 'hooks', 'fired [], not pre, post'),
    (RecomputesItselfAgain, {'with_cp', 'gradient'}, 'with_cp', 'calls in a train step: fc 3;'),
    (ModifiesItsInput, {'input_kept'}, 'input_kept', 'the input was modified in place (train, w'),
    (FailsOnAnEmptyBatch, {'empty_batch'}, 'empty_batch', 'of an empty batch (train) raised Runt'),
    (MixesSamples, {'independence'}, 'independence', 'samples run one by one vs in a batch'),
    (WrongGradient, {'gradient'}, 'gradient', 'along a random direction, finite differences'),
    (AveragesItsGate, {'with_cp'}, 'with_cp', 'buffer attn.gate_mean'),
    (BreaksDoubleBackward, {'double_backward'}, 'double_backward', 'finite differences'),
    (OnceDifferentiable, {'double_backward'}, 'double_backward', 'finite differences'),
    (WrongForwardAD, {'forward_ad'}, 'forward_ad', 'vs finite differences'),
    (SkipsItsGateUnderAutocast, {'autocast'}, 'autocast', 'cosine similarity with fp32'),
    (BranchesInPython, {'trace', 'export'}, 'trace', 'the traced module vs eager'),
    (HookClosesOverItself, {'deepcopy'}, 'deepcopy', 'a deep copy (train): gradient of scale'),
    (KeepsAPlainTensor, {'state_dict'}, 'state_dict', 'after loading the state dict (train)'),
    (FastPathDiffers, {'impls', 'hooks', 'double_backward', 'forward_ad'}, 'impls', "impl='fus"),
    (SkipsTheNormInABlock, {'in_block'}, 'in_block', 'vs module(norm(z)) + shortcut, step 1'),
    (SkipsItsHooksInABlock, {'hooks', 'in_block'}, 'hooks', 'in a block, one forward fired []'),
    (NeverRecomputes, {'in_block'}, 'in_block', 'ran the module 1 times, not twice'),
]


@pytest.mark.parametrize(
    'module,expected,defect,reason', BROKEN, ids=[case[0].__name__ for case in BROKEN]
)
def test_a_broken_module_fails_by_name(module, expected, defect, reason):
    broken = broken_properties(module)
    assert set(broken) == expected, broken
    assert reason in broken[defect], broken[defect]


def test_each_property_has_a_broken_module_that_fails_it():
    """The control: no property of the kit passes everything."""
    assert set().union(*(case[1] for case in BROKEN)) == set(PROPERTIES)


def test_every_broken_property_is_named_with_its_reason():
    class ModifiesItsInputAndMixesSamples(MixesSamples):
        def forward(self, x):
            return x.mul_(torch.sigmoid(self.fc(x.mean((2, 3), keepdim=True) - x.mean())))

    broken = broken_properties(ModifiesItsInputAndMixesSamples)
    assert {'input_kept', 'independence'} <= set(broken)
    assert all(reason.strip() for reason in broken.values())


def test_a_clear_refusal_of_higher_order_derivatives_passes():
    report = check_attention_module(RefusesHigherOrder)
    assert report['double_backward'].startswith('double backward (train) refused: RuntimeError: ')
    assert 'no double backward; use the plain module' in report['double_backward']
    assert 'forward_ad.dual_level (train) refused' in report['forward_ad']


def test_a_skipped_property_is_not_checked():
    report = check_attention_module(ModifiesItsInput, skip=('input_kept',))
    assert [p for p, outcome in report.items() if outcome == 'skipped'] == ['input_kept']


def test_kwargs_and_config_reach_the_module():
    report = check_attention_module(
        dict(type='se_plugin.SELayer', ratio=4), in_channels=8, impl='reference'
    )
    assert report['impls'] == 'modes fused, recompute, reference'


def test_the_callers_random_state_is_kept():
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    check_attention_module(
        'SimAM', in_channels=4, skip=tuple(p for p in PROPERTIES if p != 'hooks')
    )
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize(
    'args,kwargs,error,match',
    [
        ((nn.ReLU(),), {}, TypeError, 'nn.Module class, a config dict or a registered name'),
        (('NoSuchAttention',), {}, ValueError, "attention type .*, got 'NoSuchAttention'"),
        ((dict(ratio=4),), {}, TypeError, "a 'type' key"),
        ((dict(type='SELayer', in_channels=8),), {}, ValueError, "'in_channels' is given"),
        ((dict(type='SELayer', ratio=4),), dict(ratio=2), ValueError, "'ratio' is given"),
        (('SELayer',), dict(in_channels=0), ValueError, 'in_channels must be an int >= 1, got 0'),
        (('SELayer',), dict(skip='export'), TypeError, 'tuple of property names'),
        (('SELayer',), dict(skip=('exports',)), ValueError, "'exports' is no property"),
    ],
)
def test_bad_arguments_are_refused(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        check_attention_module(*args, **kwargs)
