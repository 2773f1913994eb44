"""se_plugin.convert.state_dict: renaming checked key by key and shape by shape."""

import pytest
import torch

import se_plugin  # noqa: F401  (registers se_plugin modules)
from se_plugin.convert import (
    ConversionError,
    check_state_dict,
    convert_state_dict,
)


def test_missing_keys_are_named(mm_r50):
    sd, ours = mm_r50
    sd = dict(sd)
    del sd['backbone.layer2.1.se_layer.conv1.conv.weight'], sd['head.fc.bias']
    with pytest.raises(ConversionError) as err:
        convert_state_dict(sd, 'mmpretrain', 'seresnet50', reference=ours.state_dict())
    msg = str(err.value)
    assert '2 missing key(s)' in msg
    assert 'backbone.layer2.1.attn.fc1.weight' in msg and 'head.fc.bias' in msg


def test_misshaped_keys_are_named(mm_r50):
    sd, ours = mm_r50
    sd = dict(sd)
    key = 'backbone.layer3.0.se_layer.conv2.conv.weight'
    sd[key] = torch.zeros(1024, 32, 1, 1)
    with pytest.raises(ConversionError) as err:
        convert_state_dict(sd, 'mmpretrain', 'seresnet50', reference=ours.state_dict())
    msg = str(err.value)
    assert '1 mis-shaped key(s)' in msg
    assert f'backbone.layer3.0.attn.fc2.weight (source {key}): (1024, 32, 1, 1)' in msg
    assert 'ours (1024, 64, 1, 1)' in msg


def test_wrong_depth_reports_unexpected_and_missing(mm_r50):
    sd, _ = mm_r50  # an SE-ResNet-50 given as a 101
    with pytest.raises(ConversionError) as err:
        convert_state_dict(sd, 'mmpretrain', 'seresnet101')
    assert 'missing key(s): backbone.layer3.6.' in str(err.value)


def test_unmapped_keys_and_wrong_source_hint(mm_r50):
    sd, _ = mm_r50
    with pytest.raises(ConversionError, match='is it an mmpretrain checkpoint'):
        convert_state_dict(sd, 'timm', 'seresnet50')
    timm_like = {k[len('backbone.') :]: v for k, v in sd.items() if k.startswith('backbone.')}
    with pytest.raises(ConversionError, match='is it a timm state dict'):
        convert_state_dict(timm_like, 'mmpretrain', 'seresnet50')
    extra = dict(sd, **{'backbone.extra.weight': torch.zeros(1)})
    with pytest.raises(ConversionError, match=r'1 unexpected key\(s\): backbone.extra.weight'):
        convert_state_dict(extra, 'mmpretrain', 'seresnet50', reference=mm_r50[1].state_dict())


def test_check_state_dict_lists_are_bounded():
    ref = {f'k{i}': torch.zeros(1) for i in range(20)}
    with pytest.raises(ConversionError, match=r'20 missing key\(s\): k0, .*k7, \.\.\. and 12 more'):
        check_state_dict({}, ref)
