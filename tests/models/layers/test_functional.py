"""se_plugin.models.layers.functional: the squeeze and the full-precision context."""

import pytest
import torch

from se_plugin.models.layers.functional import SQUEEZE_OPS, full_precision, squeeze


def test_squeeze_operators():
    x = torch.randn(2, 8, 4, 4)

    torch.testing.assert_close(squeeze(x, 'avg'), x.mean((2, 3)))
    torch.testing.assert_close(squeeze(x, 'max'), x.amax((2, 3)))
    torch.testing.assert_close(squeeze(x, 'avgmax'), 0.5 * (x.mean((2, 3)) + x.amax((2, 3))))
    for op in ('avg', 'max', 'avgmax'):  # channels-last tensors: the same values
        torch.testing.assert_close(
            squeeze(x.contiguous(memory_format=torch.channels_last), op), squeeze(x, op)
        )


@pytest.mark.parametrize('op', SQUEEZE_OPS)
def test_squeeze_of_half_tensors_is_fp32(op):
    x = torch.randn(2, 4, 3, 3).bfloat16()
    assert squeeze(x, op).dtype == torch.float32
    torch.testing.assert_close(squeeze(x, op), squeeze(x.float(), op))


def test_full_precision_turns_autocast_off_only_where_it_is_on():
    x, w = torch.randn(2, 4), torch.randn(4, 4)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        assert (x @ w).dtype == torch.bfloat16
        with full_precision(x):
            assert (x @ w).dtype == torch.float32
    with full_precision(x):
        assert (x @ w).dtype == torch.float32
