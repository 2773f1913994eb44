"""The slot contract: AttentionModule, attend_after_norm, the list of built-in modules."""

import copy

import pytest
import torch
from mmengine import Registry
from torch import nn

from se_plugin.models import SKConv
from se_plugin.models.layers import (
    ATTENTION_LAYERS,
    AttentionModule,
    ChannelScaleLayer,
    attend_after_norm,
    attention_layer_names,
)
from se_plugin.registry import MODELS


class Gate(AttentionModule):
    """A minimal slot module: a learnt per-channel sigmoid gate."""

    def __init__(self, in_channels, impl='recompute', init_cfg=None):
        super().__init__(in_channels, impl, init_cfg)
        self.scale = nn.Parameter(torch.linspace(-1, 1, in_channels)[:, None, None])
        self.resets = 0

    def forward(self, x):
        return x * self.scale.sigmoid()

    def reset_parameters(self):
        self.resets += 1


def _run(fn, z, *modules):
    """Output, gradients of z and of every parameter, and the buffers, after one backward."""
    z = z.detach().clone().requires_grad_()
    out = fn(z)
    out.backward(torch.linspace(-1, 1, out.numel()).view_as(out))
    params = [p.grad.clone() for m in modules for p in m.parameters()]
    buffers = [b.clone() for m in modules for b in m.buffers()]
    return out.detach(), z.grad, params, buffers


def _same(a, b):
    for x, y in zip(a[:2], b[:2]):
        torch.testing.assert_close(x, y)
    for x, y in zip(a[2] + a[3], b[2] + b[3]):
        torch.testing.assert_close(x, y)


@pytest.mark.parametrize('impl', ['recompute', 'reference'])
@pytest.mark.parametrize('residual', [False, True])
def test_forward_after_norm_is_the_composition(impl, residual):
    torch.manual_seed(0)
    gate, norm = Gate(4, impl=impl), nn.BatchNorm2d(4)
    twin, twin_norm = copy.deepcopy(gate), copy.deepcopy(norm)
    z, res = torch.randn(3, 4, 5, 5), torch.randn(3, 4, 5, 5) if residual else None
    got = _run(lambda z: gate.forward_after_norm(z, norm, res), z, gate, norm)
    expected = _run(lambda z: twin(twin_norm(z)) + (0 if res is None else res), z, twin, twin_norm)
    _same(got, expected)
    assert int(norm.num_batches_tracked) == 1  # the recomputation did not count again


def test_the_base_checks_its_arguments_and_has_no_forward():
    with pytest.raises(ValueError, match='in_channels must be an int >= 1, got 0'):
        Gate(0)
    with pytest.raises(TypeError, match='in_channels must be an int'):
        Gate(True)
    with pytest.raises(
        ValueError, match="impl must be one of 'recompute', 'reference', got 'fused'"
    ):
        Gate(4, impl='fused')
    module = AttentionModule(4)
    assert module.impl == 'reference' and AttentionModule.impls == ('recompute', 'reference')
    with pytest.raises(NotImplementedError, match='AttentionModule must implement forward'):
        module(torch.rand(1, 4, 2, 2))
    with pytest.raises(ValueError, match=r'Gate\(4\) expects an \(N, 4, H, W\) input'):
        Gate(4)._check_input(torch.rand(1, 3, 2, 2))


def test_init_weights_runs_the_papers_init_unless_an_init_cfg_is_given():
    gate = Gate(4)
    gate.init_weights()
    assert gate.resets == 1
    gate = Gate(4, init_cfg=dict(type='Constant', val=0.5, layer='Conv2d'))
    gate.init_weights()
    assert gate.resets == 0


def test_attend_after_norm_on_an_attention_module_calls_its_method(monkeypatch):
    calls = []
    method = Gate.forward_after_norm
    monkeypatch.setattr(
        Gate, 'forward_after_norm', lambda self, *a: calls.append(1) or method(self, *a)
    )
    z, norm = torch.randn(2, 4, 3, 3), nn.BatchNorm2d(4).eval()
    gate = Gate(4)
    torch.testing.assert_close(attend_after_norm(gate, z, norm, z), gate(norm(z)) + z)
    assert calls == [1]


class Duck(nn.Module):
    """A shape-keeping module of someone else's (registered in mmpretrain, not subclassing)."""

    def forward(self, x):
        return x.sigmoid()

    def forward_after_norm(self, z, norm, residual=None):
        raise AssertionError('a method of that name is no contract: called plainly')


@pytest.mark.parametrize('module', [None, Duck(), nn.Identity()], ids=['empty', 'duck', 'identity'])
@pytest.mark.parametrize('residual', [False, True])
def test_attend_after_norm_on_any_other_module_is_the_plain_composition(module, residual):
    torch.manual_seed(0)
    z, norm = torch.randn(2, 4, 3, 3, requires_grad=True), nn.BatchNorm2d(4)
    res = torch.randn(2, 4, 3, 3) if residual else None
    out = attend_after_norm(module, z, norm, res)
    twin = nn.BatchNorm2d(4)
    expected = twin(z) if module is None else module(twin(z))
    torch.testing.assert_close(out, expected + (0 if res is None else res))
    out.sum().backward()  # the in-place addition of the shortcut is differentiable
    assert z.grad is not None


def test_the_built_in_modules_are_the_registered_attention_modules():
    assert 'SELayer' in ATTENTION_LAYERS and 'SKConv' not in ATTENTION_LAYERS
    assert len(set(ATTENTION_LAYERS)) == len(ATTENTION_LAYERS)
    for name in ATTENTION_LAYERS:
        assert issubclass(MODELS.get(name), AttentionModule), name
    layers = [
        name
        for name, cls in MODELS.module_dict.items()
        if isinstance(cls, type)
        and issubclass(cls, AttentionModule)
        and cls.__module__.startswith('se_plugin.models.layers.')
    ]
    assert set(layers) == set(ATTENTION_LAYERS)  # ChannelScaleLayer is no slot module
    assert not issubclass(SKConv, AttentionModule)
    # a module registered from elsewhere is not a built-in one
    registry = Registry('test')
    registry.register_module(module=Gate)
    assert attention_layer_names(registry) == ()
    registry.register_module(module=MODELS.get('CBAM'))
    assert attention_layer_names(registry) == ('CBAM',)


@pytest.mark.parametrize('name', ATTENTION_LAYERS)
def test_every_module_offers_its_modes_and_refuses_others(name):
    cls = MODELS.get(name)
    module = cls(16)
    assert module.impl in cls.impls and set(cls.impls) <= {'fused', 'recompute', 'reference'}
    assert {'recompute', 'reference'} <= set(cls.impls)
    if issubclass(cls, ChannelScaleLayer):  # SE, ECA, eSE: the norm folded into a Function
        assert module.impl == 'fused'
    elif 'fused' not in cls.impls:
        assert module.impl == 'recompute'
    for impl in cls.impls:
        assert cls(16, impl=impl).impl == impl
    with pytest.raises(ValueError, match='impl must be one of'):
        cls(16, impl='triton')
