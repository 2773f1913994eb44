"""impl='recompute': the block's last norm and the slot module recomputed in the backward."""

import contextlib
import copy

import pytest
import torch
from torch import nn

from se_plugin.models import SEBottleneck
from se_plugin.models.layers import ATTENTION_LAYERS, AttentionModule
from se_plugin.models.layers.recompute import (
    RunningStatisticsKept,
    block_checkpoint_contexts,
    recompute_after_norm,
    recompute_applies,
)
from se_plugin.registry import MODELS


def _segment(channels=4):
    """A norm and a module with its own batch norm (both update running statistics)."""
    torch.manual_seed(0)
    norm = nn.BatchNorm2d(channels)
    module = nn.Sequential(nn.Conv2d(channels, channels, 1), nn.BatchNorm2d(channels), nn.Sigmoid())
    return norm, module


def _run(fn, z, modules, create_graph=False):
    z = z.detach().clone().requires_grad_()
    out = fn(z)
    grads = torch.autograd.grad(
        out.square().sum(), [z, *(p for m in modules for p in m.parameters())], create_graph=True
    )
    if create_graph:  # a gradient penalty: differentiate the gradient again
        grads = torch.autograd.grad(grads[0].square().sum(), [z], retain_graph=True)
    return [
        out.detach(),
        *(g.detach() for g in grads),
        *(b.clone() for m in modules for b in m.buffers()),
    ]


@pytest.mark.parametrize('create_graph', [False, True], ids=['backward', 'double-backward'])
@pytest.mark.parametrize('dtype', [torch.float64, torch.float32])
def test_equals_the_plain_composition(dtype, create_graph):
    norm, module = (m.to(dtype) for m in _segment())
    twin_norm, twin = copy.deepcopy(norm), copy.deepcopy(module)
    z = torch.randn(3, 4, 5, 5, dtype=dtype)
    for _ in range(2):  # the second pass sees updated running statistics
        got = _run(lambda z: recompute_after_norm(z, norm, module), z, (norm, module), create_graph)
        expected = _run(lambda z: twin(twin_norm(z)), z, (twin_norm, twin), create_graph)
        for a, b in zip(got, expected):
            torch.testing.assert_close(a, b)
    assert int(norm.num_batches_tracked) == int(module[1].num_batches_tracked) == 2


def test_equals_the_plain_composition_under_bf16_autocast():
    norm, module = _segment()
    twin_norm, twin = copy.deepcopy(norm), copy.deepcopy(module)
    z = torch.randn(3, 4, 5, 5)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        got = _run(lambda z: recompute_after_norm(z, norm, module), z, (norm, module))
        expected = _run(lambda z: twin(twin_norm(z)), z, (twin_norm, twin))
    for a, b in zip(got, expected):
        assert a.dtype == b.dtype
        torch.testing.assert_close(a, b)


def _hook(module):
    module.register_forward_hook(lambda *args: None)


@pytest.mark.parametrize(
    'case',
    ['train', 'no-grad', 'frozen', 'norm-hook', 'module-hook', 'global-hook', 'compiling']
    + ['empty', 'checkpointed-block'],
)
def test_recomputes_only_where_that_keeps_the_semantics(case, monkeypatch):
    norm, module = _segment()
    z = torch.randn(0 if case == 'empty' else 2, 4, 3, 3, requires_grad=case != 'frozen')
    if case == 'frozen':
        norm.requires_grad_(False), module.requires_grad_(False)
    if case == 'norm-hook':
        _hook(norm)
    if case == 'module-hook':
        _hook(module[0])  # a submodule's hook would fire twice as well
    if case == 'compiling':
        monkeypatch.setattr(torch.compiler, 'is_compiling', lambda: True)
    context = contextlib.nullcontext()
    if case == 'no-grad':
        context = torch.no_grad()
    elif case == 'global-hook':
        context = nn.modules.module.register_module_forward_hook(lambda *args: None)
    elif case == 'checkpointed-block':
        context = block_checkpoint_contexts(nn.Identity())[0]
    with context:
        applies = recompute_applies(z, norm, module)
    if case == 'global-hook':
        context.remove()
    assert applies == (case == 'train')


def test_running_statistics_kept_restores_without_a_version_change():
    norm = nn.BatchNorm2d(4)
    keep = RunningStatisticsKept(norm)
    version = norm.running_mean._version
    for _ in range(2):  # reusable: a double backward recomputes twice
        with keep:
            norm(torch.randn(2, 4, 3, 3))
            assert int(norm.num_batches_tracked) == 1
        assert int(norm.num_batches_tracked) == 0 and not norm.running_mean.any()
    assert norm.running_mean._version == version


def _saved_bytes(model, x) -> int:
    """Bytes autograd keeps for the backward of ``model(x)`` (parameters excluded)."""
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    saved = {}

    def pack(t):
        storage = t.untyped_storage()
        if storage.data_ptr() not in params:
            saved[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(x.clone().requires_grad_())
    return sum(saved.values())


def _block(attn_cfg, **kwargs):
    torch.manual_seed(0)
    return SEBottleneck(32, 32, attn_cfg=attn_cfg, **kwargs).train()


@MODELS.register_module(name='TestOptInGate', force=True)
class OptInGate(AttentionModule):
    """Someone's module: a full-size gate that autograd would keep; one argument opts in."""

    def __init__(self, in_channels, impl='recompute'):
        super().__init__(in_channels, impl)
        self.conv = nn.Conv2d(in_channels, in_channels, 1)

    def forward(self, x):
        return x * self.conv(x).sigmoid()


@pytest.mark.parametrize('drop_path_rate', [0.0, 0.5], ids=['plain', 'drop-path'])
@pytest.mark.parametrize('name', [*ATTENTION_LAYERS, 'TestOptInGate'])
def test_every_module_keeps_what_the_block_without_attention_keeps(name, drop_path_rate):
    """Exact saved-tensor accounting: at the defaults, a block with any slot module keeps
    no more than the block without one (plus (N, C) vectors: pooled values, weights)."""
    x = torch.randn(2, 32, 8, 8)
    plain = _saved_bytes(_block(None, drop_path_rate=drop_path_rate), x)
    got = _saved_bytes(_block(dict(type=name), drop_path_rate=drop_path_rate), x)
    reference = _saved_bytes(
        _block(dict(type=name, impl='reference'), drop_path_rate=drop_path_rate), x
    )
    vectors = 2 * x.shape[0] * x.shape[1] * 4  # two (N, C) fp32 vectors
    if MODELS.get(name)(32).impl == 'recompute':
        assert got <= plain
    else:
        assert got <= plain + vectors
    assert reference >= plain + x[0].numel() * 4  # the control: the plain module keeps maps
