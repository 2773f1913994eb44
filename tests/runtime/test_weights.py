"""Checked weight loading: exact fits, partial fits, and checkpoints that fit nothing."""

import pytest
import torch
from mmengine.model import initialize
from mmengine.registry import DefaultScope

from se_plugin.runtime.weights import (
    MIN_LOADED_FRACTION,
    WeightsMismatchError,
    load_weights,
    match_weights,
)


def _net():
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3), torch.nn.BatchNorm2d(8), torch.nn.Linear(8, 4)
    )


def _variant(name):
    sd = {k: v.clone() + 1 for k, v in _net().state_dict().items()}
    if name == 'missing':
        del sd['2.bias']
    elif name == 'unexpected':
        sd['3.weight'] = torch.zeros(1)
    elif name == 'mismatched':
        sd['2.weight'] = torch.zeros(5, 8)
    elif name == 'wrapped':
        sd = {f'module.{k}': v for k, v in sd.items()}
    elif name == 'foreign':
        sd = {'fc.weight': torch.zeros(2, 2)}
    return sd


@pytest.mark.parametrize(
    'variant, missing, unexpected, mismatched',
    [
        ('exact', 0, 0, 0),
        ('wrapped', 0, 0, 0),
        ('missing', 1, 0, 0),
        ('unexpected', 0, 1, 0),
        ('mismatched', 0, 0, 1),
        ('foreign', 8, 1, 0),
    ],
)
def test_match_weights_counts(variant, missing, unexpected, mismatched):
    match = match_weights(_net(), _variant(variant))
    assert (len(match.missing), len(match.unexpected), len(match.mismatched)) == (
        missing,
        unexpected,
        mismatched,
    )
    assert match.exact == (missing == unexpected == mismatched == 0)
    assert 0.0 <= match.loaded_fraction <= 1.0


@pytest.mark.parametrize('variant', ['missing', 'unexpected', 'mismatched', 'foreign'])
def test_strict_refuses_any_difference_with_counts_and_names(variant):
    net = _net()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with pytest.raises(WeightsMismatchError, match=r'does not fit the model: loaded \d+/\d+'):
        load_weights(net, _variant(variant), 'ckpt.pth', 'strict')
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())  # untouched


@pytest.mark.parametrize('mode', ['strict', 'checked', 'partial'])
def test_exact_and_wrapped_checkpoints_load_in_every_mode(mode):
    for variant in ('exact', 'wrapped'):
        net = _net()
        load_weights(net, _variant(variant), 'ckpt.pth', mode)
        assert torch.equal(net[0].weight, _net()[0].weight + 1)
        assert int(net[1].num_batches_tracked) == 1  # BN step counters load too


def test_checked_loads_what_fits_and_refuses_what_fits_almost_nothing():
    net = _net()
    match = load_weights(net, _variant('mismatched'), 'ckpt.pth', 'checked')
    assert match.mismatched == ['2.weight'] and match.loaded_fraction > MIN_LOADED_FRACTION
    assert torch.equal(net[2].weight, _net()[2].weight)  # the mismatched one kept
    with pytest.raises(WeightsMismatchError, match='matches almost nothing'):
        load_weights(_net(), _variant('foreign'), 'ckpt.pth', 'checked')
    assert load_weights(_net(), _variant('foreign'), 'ckpt.pth', 'partial').loaded == []


def test_bad_mode():
    with pytest.raises(ValueError, match='mode must be one of'):
        load_weights(_net(), {}, 'x', 'loose')


@pytest.mark.parametrize('prefix', [None, 'backbone.'])
def test_pretrained_init_in_se_plugin_scope_is_checked(tmp_path, prefix):
    """``init_cfg=dict(type='Pretrained')`` resolves to the checked initializer."""
    add = prefix or ''
    good, bad = tmp_path / 'good.pth', tmp_path / 'bad.pth'
    torch.save({'state_dict': {add + k: v for k, v in _variant('exact').items()}}, good)
    torch.save({'state_dict': {add + k: v for k, v in _variant('foreign').items()}}, bad)
    net = _net()
    with DefaultScope.overwrite_default_scope('se_plugin'):
        initialize(net, dict(type='Pretrained', checkpoint=str(good), prefix=prefix))
        assert torch.equal(net[0].weight, _net()[0].weight + 1)
        with pytest.raises(WeightsMismatchError, match='init_cfg Pretrained .*matches almost'):
            initialize(_net(), dict(type='Pretrained', checkpoint=str(bad), prefix=prefix))
        if prefix:
            with pytest.raises(WeightsMismatchError, match="no tensor starts with 'head.'"):
                initialize(_net(), dict(type='Pretrained', checkpoint=str(good), prefix='head.'))
