import pytest
import torch
from helpers import num_params, resnet50_params

from se_plugin.models import SimAM
from se_plugin.models.layers.fused.simam import FusedSimAM, simam
from se_plugin.registry import MODELS


def simam_formula(x, e_lambda=1e-4):
    """SimAM Eq. 16, element by element as the paper's Fig. 3 code, in float64 loops over maps."""
    out = torch.empty_like(x)
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            t = x[n, c]
            m = t.numel() - 1
            var = ((t - t.mean()) ** 2).sum() / m
            e_inv = (t - t.mean()) ** 2 / (4 * (var + e_lambda)) + 0.5
            out[n, c] = t / (1 + torch.exp(-e_inv))
    return out


@pytest.mark.parametrize('e_lambda', [1e-4, 0.5])
@pytest.mark.parametrize('shape', [(2, 3, 5, 4), (1, 2, 1, 7), (1, 4, 2, 1)])
def test_matches_the_paper_formula(shape, e_lambda):
    torch.manual_seed(0)
    x = torch.randn(shape, dtype=torch.float64) * 3
    torch.testing.assert_close(SimAM(shape[1], e_lambda=e_lambda)(x), simam_formula(x, e_lambda))


def test_one_pixel_maps_are_finite():
    """The authors' code gives 0 / 0 for 1 x 1 maps; here var = 0, so x * sigmoid(0.5)."""
    x = torch.randn(2, 3, 1, 1, dtype=torch.float64)
    torch.testing.assert_close(SimAM(3)(x), x * torch.sigmoid(torch.tensor(0.5)).double())


def test_no_parameters_and_resnet50_unchanged():
    assert num_params(SimAM(64)) == 0
    assert resnet50_params(dict(type='se_plugin.SimAM')) == resnet50_params(None)


def test_half_precision_accumulates_in_fp32():
    torch.manual_seed(0)
    x = (torch.randn(2, 4, 16, 16) * 100).bfloat16()
    expected = simam(x.double(), 1e-4)
    torch.testing.assert_close(simam(x, 1e-4).double(), expected, rtol=0.05, atol=0.5)


def test_build_from_registry_and_empty_batch():
    layer = MODELS.build(dict(type='se_plugin.SimAM', in_channels=8, e_lambda=1e-3))
    assert isinstance(layer, SimAM) and layer.e_lambda == 1e-3
    assert layer(torch.randn(0, 8, 3, 3)).shape == (0, 8, 3, 3)


@pytest.mark.parametrize(
    'kwargs, error, match',
    [
        (dict(e_lambda=0), ValueError, 'e_lambda must be a finite number > 0, got 0'),
        (dict(e_lambda=-1e-4), ValueError, 'e_lambda must be a finite number > 0'),
        (dict(e_lambda='1e-4'), TypeError, 'e_lambda must be a finite number'),
        (dict(in_channels=0), ValueError, 'in_channels must be an int >= 1'),
        (dict(in_channels=None), TypeError, 'in_channels must be an int'),
        (dict(impl='triton'), ValueError, "impl must be one of 'fused', 'recompute', 'reference'"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        SimAM(**dict(dict(in_channels=8), **kwargs))


def test_input_shape_is_checked():
    with pytest.raises(ValueError, match=r'SimAM\(8\) expects an \(N, 8, H, W\) input'):
        SimAM(8)(torch.rand(1, 4, 2, 2))


@pytest.mark.parametrize('shape', [(2, 3, 4, 5), (1, 2, 1, 1), (2, 2, 1, 3)])
def test_fused_gradients_against_finite_differences(shape):
    torch.manual_seed(0)
    x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: FusedSimAM.apply(x, 0.1), (x,))


def _kept_bytes(fn, x) -> int:
    """Bytes of the tensors autograd keeps for the backward of ``fn(x)`` (each storage once)."""
    seen = {}

    def pack(t):
        seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn(x)
    return sum(seen.values())


@pytest.mark.parametrize(
    'impl, full_size_tensors', [('fused', 1), ('recompute', 1), ('reference', 4)]
)
def test_activation_memory_kept(impl, full_size_tensors):
    """The fused Function keeps the input (and per-map statistics); autograd keeps four maps."""
    x = torch.randn(2, 16, 8, 8, requires_grad=True)
    stats = 2 * 2 * 16 * 4 if impl != 'reference' else 2 * 16 * 4  # (N, C, 1, 1) fp32 each
    if impl == 'reference':
        stats += 4  # the 0-dim H * W - 1 divisor, a tensor so that traces keep it
    kept = _kept_bytes(SimAM(16, impl=impl), x)
    assert kept == full_size_tensors * x.numel() * 4 + stats


def test_fused_and_reference_agree_under_bf16():
    torch.manual_seed(0)
    x = torch.randn(2, 8, 6, 6).bfloat16()
    grads = []
    for impl in ('fused', 'reference'):
        leaf = x.clone().requires_grad_()
        out = SimAM(8, impl=impl)(leaf)
        out.float().square().sum().backward()
        grads.append((out.float(), leaf.grad.float()))
    exact = x.double().requires_grad_()
    out = simam(exact, 1e-4)
    out.square().sum().backward()
    for got in grads:
        torch.testing.assert_close(got[0].double(), out.detach(), rtol=0.02, atol=0.02)
    # fp32 backward arithmetic: the fused gradient is at least as close as autograd's bf16 one
    errors = [float((g[1].double() - exact.grad).abs().max()) for g in grads]
    assert errors[0] <= errors[1] + 1e-3, errors
