"""amax_grad: aten's amax backward (the gradient split evenly among ties), bitwise."""

import pytest
import torch

from se_plugin.models.layers.fused.amax import add_amax_grad_, amax_grad, amax_mask


def _input(kind, dtype):
    torch.manual_seed(0)
    x = torch.randn(3, 5, 4, 6)
    if kind == 'integer-ties':
        x = torch.randint(-2, 3, x.shape).float()
    elif kind == 'relu-zeros':  # whole planes at the maximum 0
        x = x.clamp(max=0)
    elif kind == 'nan':
        x[0, 1, 2, 3] = float('nan')
        x[1, :, 0, 0] = float('nan')
    elif kind == 'inf':
        x[0, 1, 2, 3] = float('inf')
        x[2, 2] = float('-inf')
    return x.to(dtype)


@pytest.mark.parametrize('kind', ['random', 'integer-ties', 'relu-zeros', 'nan', 'inf'])
@pytest.mark.parametrize('dims', [(2, 3), (1,)], ids=['spatial', 'channels'])
@pytest.mark.parametrize('dtype', [torch.float64, torch.float32, torch.bfloat16])
def test_amax_grad_is_atens_bitwise(dtype, dims, kind):
    x = _input(kind, dtype).requires_grad_()
    peak = x.amax(dims, keepdim=True)
    grad = torch.randn(peak.shape).to(dtype)
    (expected,) = torch.autograd.grad(peak, x, grad)
    got = amax_grad(x.detach(), peak.detach(), grad, dims)
    assert got.dtype == expected.dtype
    assert torch.equal(got.isnan(), expected.isnan())
    assert torch.equal(got.nan_to_num(7.0), expected.nan_to_num(7.0))
    out = torch.ones_like(got)
    add_amax_grad_(out, x.detach(), peak.detach(), grad, dims)
    assert torch.equal(out.nan_to_num(7.0), (expected + 1).nan_to_num(7.0))


def test_amax_mask_is_zero_one_in_the_inputs_dtype():
    x = torch.tensor([[1.0, 3.0, 3.0], [2.0, 0.0, 2.0]])
    mask = amax_mask(x, x.amax(1, keepdim=True))
    assert mask.dtype == x.dtype
    assert mask.tolist() == [[0.0, 1.0, 1.0], [1.0, 0.0, 1.0]]
