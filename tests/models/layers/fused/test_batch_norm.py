"""BatchNormFromStats: the block's norm run once, its output rebuilt from the batch statistics."""

import copy

import pytest
import torch
from torch import nn

from se_plugin.models.layers.fused.batch_norm import (
    BatchNormFromStats,
    BatchStatistics,
    uses_batch_statistics,
)
from se_plugin.models.layers.fused.kernels import affine_from_stats


def _norm(channels=6, dtype=torch.float32, **kwargs):
    torch.manual_seed(0)
    norm = nn.BatchNorm2d(channels, **kwargs).to(dtype)
    if norm.affine:
        nn.init.uniform_(norm.weight, 0.5, 1.5)
        nn.init.uniform_(norm.bias, -0.5, 0.5)
    return norm


CASES = {
    'fp32': dict(dtype=torch.float32),
    'fp64': dict(dtype=torch.float64),
    'bf16-autocast': dict(dtype=torch.float32, autocast=True),
    'channels-last': dict(dtype=torch.float32, channels_last=True),
    'no-affine': dict(dtype=torch.float64, affine=False),
    'cumulative': dict(dtype=torch.float64, momentum=None),
    'no-running-stats': dict(dtype=torch.float64, track_running_stats=False),
}


def _input(dtype, channels_last=False, autocast=False, shape=(4, 6, 5, 7)):
    torch.manual_seed(1)
    z = torch.randn(shape, dtype=dtype).mul_(3).add_(1)
    if autocast:
        z = z.bfloat16()  # what a conv gives under autocast
    if channels_last:
        z = z.contiguous(memory_format=torch.channels_last)
    return z.requires_grad_()


def _run(fn, z, norm, autocast):
    with torch.autocast('cpu', dtype=torch.bfloat16, enabled=autocast):
        out = fn(z)
    grad = torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view_as(out)
    params = list(norm.parameters())
    grads = torch.autograd.grad(out, [z, *params], grad)
    return out.detach(), grads, [b.clone() for b in norm.buffers()]


@pytest.mark.parametrize('case', sorted(CASES))
def test_forward_is_the_norm_and_the_recomputation_rebuilds_it_bitwise(case):
    opts = dict(CASES[case])
    autocast, channels_last = opts.pop('autocast', False), opts.pop('channels_last', False)
    norm = _norm(**opts).train()
    twin = copy.deepcopy(norm)
    z = _input(opts['dtype'], channels_last, autocast)
    stats = BatchStatistics()

    def fused(z):
        return BatchNormFromStats.apply(z, norm.weight, norm.bias, norm, stats)

    got = _run(fused, z, norm, autocast)
    expected = _run(twin, z, twin, autocast)
    assert got[0].dtype == expected[0].dtype
    assert torch.equal(got[0], expected[0])  # the same kernel
    for a, b in zip(got[2], expected[2]):  # running statistics updated once, as the norm does
        assert torch.equal(a, b)
    for a, b in zip(got[1], expected[1]):  # batch norm's own backward
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    assert stats.mean is not None
    again = _run(fused, z, norm, autocast)  # a recomputation: one affine pass, same output
    assert torch.equal(again[0], expected[0])
    for a, b in zip(again[2], expected[2]):  # and no second update
        assert torch.equal(a, b)
    for a, b in zip(again[1], got[1]):
        assert torch.equal(a, b)


def test_affine_from_stats_is_the_training_kernels_output():
    z = _input(torch.float32).detach()
    weight, bias = torch.rand(6) + 0.5, torch.randn(6)
    out, mean, invstd = torch.native_batch_norm(z, weight, bias, None, None, True, 0.0, 1e-5)
    assert torch.equal(affine_from_stats(z, weight, bias, mean, invstd), out)
    out, mean, invstd = torch.native_batch_norm(z, None, None, None, None, True, 0.0, 1e-5)
    assert torch.equal(affine_from_stats(z, None, None, mean, invstd), out)


@pytest.mark.parametrize('phase', ['forward', 'recomputation'])
def test_double_backward_equals_batch_norms(phase):
    norm = _norm(dtype=torch.float64).train()
    twin = copy.deepcopy(norm)
    z = _input(torch.float64)
    stats = BatchStatistics()
    if phase == 'recomputation':
        BatchNormFromStats.apply(z, norm.weight, norm.bias, norm, stats)

    def penalty(fn, params):
        out = fn(z)
        weights = torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view_as(out)
        (gz,) = torch.autograd.grad((out * weights).square().sum(), z, create_graph=True)
        return torch.autograd.grad(gz.square().sum(), [z, *params])

    got = penalty(
        lambda z: BatchNormFromStats.apply(z, norm.weight, norm.bias, norm, stats),
        [
            norm.weight,
            norm.bias,
        ],
    )
    expected = penalty(twin, [twin.weight, twin.bias])
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize(
    'case, expected',
    [
        ('train', True),
        ('eval', False),
        ('eval-without-running-stats', True),
        ('subclass', False),
        ('batchnorm1d', False),
    ],
)
def test_uses_batch_statistics(case, expected):
    norm = {
        'train': lambda: nn.BatchNorm2d(4),
        'eval': lambda: nn.BatchNorm2d(4).eval(),
        'eval-without-running-stats': lambda: nn.BatchNorm2d(4, track_running_stats=False).eval(),
        'subclass': lambda: nn.SyncBatchNorm(4),
        'batchnorm1d': lambda: nn.BatchNorm1d(4),
    }[case]()
    assert uses_batch_statistics(norm) is expected
