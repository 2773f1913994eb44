"""Tests of se_plugin.models.layers.anti_alias (build_anti_alias)."""

import pytest
import torch
import torch.nn.functional as F

from se_plugin.models.layers.anti_alias import ANTI_ALIAS_MODES, build_anti_alias


def test_avg_is_a_2x2_average_pool_with_stride_2():
    pool = build_anti_alias('avg', 2)
    x = torch.randn(2, 3, 8, 8)
    torch.testing.assert_close(pool(x), F.avg_pool2d(x, 2))
    assert not list(pool.parameters())  # no keys: converted weights are unchanged


def test_odd_sizes_keep_the_avg_down_shortcut_size():
    """ceil mode: 7 -> 4, as the avg-down shortcut's pool (ceil mode too), so they add."""
    pool = build_anti_alias('avg', 2)
    x = torch.randn(1, 2, 7, 7)
    out = pool(x)
    assert out.shape == (1, 2, 4, 4)
    torch.testing.assert_close(out[..., -1, -1], x[..., -1, -1])  # the 1x1 edge window
    torch.testing.assert_close(out[..., :3, :3], F.avg_pool2d(x, 2))


@pytest.mark.parametrize('mode, stride', [(None, 2), ('avg', 1), (None, 1)])
def test_nothing_to_pool(mode, stride):
    assert build_anti_alias(mode, stride) is None


@pytest.mark.parametrize(
    'mode, error',
    [
        ('blur', ValueError),
        ('AVG', ValueError),
        ('', ValueError),
        (1, TypeError),
        (True, TypeError),
    ],
)
def test_bad_mode(mode, error):
    with pytest.raises(error, match=rf"anti_alias must be one of None, 'avg', got {mode!r}"):
        build_anti_alias(mode, 2)
    assert mode not in ANTI_ALIAS_MODES


@pytest.mark.parametrize('stride, error', [(0, ValueError), (2.0, TypeError)])
def test_bad_stride(stride, error):
    with pytest.raises(error, match='stride must be'):
        build_anti_alias('avg', stride)
