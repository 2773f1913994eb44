"""FusedAttention: each fused module's hand-written backward against its plain ops (float64).

On its own (``module(x)``) and with the block's batch norm folded in
(``module.forward_after_norm(z, bn, residual)``), for random inputs, inputs full of
ties (integer values, whole zero planes: the maxima of CBAM's poolings), channels-last
inputs, and frozen inputs or parameters.
"""

import copy

import pytest
import torch
from torch import nn

from se_plugin.models.layers.base import FusedAttentionModule
from se_plugin.models.layers.fused.attention import FusedAttention
from se_plugin.registry import MODELS


class ToyGate(FusedAttentionModule):
    """A module of one's own on the contract: ``x * sigmoid(scale)`` per channel."""

    def __init__(self, in_channels, impl='fused'):
        super().__init__(in_channels, impl)
        self.scale = nn.Parameter(torch.linspace(-1, 1, in_channels))

    def reference_forward(self, x):
        return x * self.scale.sigmoid()[:, None, None]

    def fused_forward(self, x):
        gate = self.scale.sigmoid()
        return x * gate[:, None, None], (), gate

    def fused_backward(self, saved, gate, x, grad_out, need_x, params, need_params):
        grad_scale = (grad_out * x).sum((0, 2, 3)) * gate * (1 - gate)
        grad_x = grad_out * gate[:, None, None] if need_x else None
        return grad_x, [grad_scale if need_params[0] else None]


MODULES = {
    'CBAM': dict(type='se_plugin.CBAM', ratio=4),
    'CBAM-no-norm-prelu': dict(
        type='se_plugin.CBAM',
        ratio=4,
        norm_cfg=None,
        act_cfg=(dict(type='PReLU'), dict(type='Sigmoid')),
    ),
    'CoordAttention': dict(type='se_plugin.CoordAttention', reduction=4, min_channels=2),
    'CoordAttention-no-norm': dict(type='se_plugin.CoordAttention', norm_cfg=None, bias=False),
    'GlobalContext': dict(type='se_plugin.GlobalContext', ratio=1 / 4, zero_init_last=False),
    'GlobalContext-scale': dict(
        type='se_plugin.GlobalContext', ratio=1 / 4, fusion='scale', zero_init_last=False
    ),
    'GlobalContext-avg': dict(
        type='se_plugin.GlobalContext', ratio=1 / 4, pooling='avg', zero_init_last=False
    ),
    'ToyGate': dict(type=ToyGate),
}


def _build(name, channels=16):
    torch.manual_seed(0)
    module = MODELS.build(dict(MODULES[name], in_channels=channels)).double().train()
    for m in module.modules():  # non-trivial norms
        if isinstance(m, nn.BatchNorm2d):
            nn.init.uniform_(m.weight, 0.5, 1.5)
            nn.init.uniform_(m.bias, -0.5, 0.5)
    reference = copy.deepcopy(module)
    reference.impl = 'reference'
    return module, reference


def _input(kind, shape=(3, 16, 5, 6)):
    torch.manual_seed(1)
    if kind == 'ties':  # integers <= 0: maxima tied over space and over channels (at 0)
        return torch.randint(-3, 1, shape).double()
    x = torch.randn(shape, dtype=torch.float64)
    if kind == 'channels-last':
        x = x.contiguous(memory_format=torch.channels_last)
    return x


def _run(module, x, fold, frozen):
    module.zero_grad(set_to_none=True)
    x = x.clone().requires_grad_(frozen != 'input')
    if frozen == 'params':
        module.requires_grad_(False)
    args = [x]
    if fold:
        torch.manual_seed(2)
        norm = nn.BatchNorm2d(x.shape[1]).double()
        nn.init.uniform_(norm.weight, 0.5, 1.5)
        nn.init.uniform_(norm.bias, -0.5, 0.5)
        residual = torch.randn_like(x)
        out = module.forward_after_norm(x, norm, residual)
        args += [*norm.parameters(), *norm.buffers()]
    else:
        out = module(x)
    weights = torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view_as(out)
    wanted = [t for t in (x, *(args[1:3] if fold else ()), *module.parameters()) if t.requires_grad]
    grads = torch.autograd.grad((out * weights).sum(), wanted)
    return [out.detach(), *grads, *(b.clone() for b in module.buffers()), *args[3:]]


def _assert_same(module, reference, x, fold, frozen='nothing'):
    calls = []
    apply = FusedAttention.apply
    FusedAttention.apply = lambda *a: calls.append(1) or apply(*a)
    try:
        got = _run(module, x, fold, frozen)
    finally:
        FusedAttention.apply = apply
    assert calls  # the control: the fused path ran
    expected = _run(reference, x, fold, frozen)
    assert len(got) == len(expected)
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize('kind', ['random', 'ties', 'channels-last'])
@pytest.mark.parametrize('fold', [False, True], ids=['alone', 'norm-folded'])
@pytest.mark.parametrize('name', sorted(MODULES))
def test_fused_equals_the_plain_ops(name, fold, kind):
    module, reference = _build(name)
    _assert_same(module, reference, _input(kind), fold)


@pytest.mark.parametrize('frozen', ['input', 'params'])
@pytest.mark.parametrize('name', sorted(MODULES))
def test_only_what_needs_a_gradient_gets_one(name, frozen):
    module, reference = _build(name)
    _assert_same(module, reference, _input('random'), fold=True, frozen=frozen)
