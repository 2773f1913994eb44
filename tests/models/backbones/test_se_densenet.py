"""SEDenseNet: mmpretrain's DenseNet with SE after dense blocks (through inject_attention)."""

import os

import pytest
import torch
from helpers import classifier, num_params
from mmengine.config import Config
from mmpretrain.models.backbones.densenet import DenseNet

from se_plugin.models import SEDenseNet, SELayer
from se_plugin.registry import MODELS
from tests.conftest import REPO_ROOT

TINY = dict(growth_rate=8, depths=[2, 2, 2], init_channels=16)


def se_params(channels, ratio=16, divisor=8):
    hidden = max(divisor, int(channels / ratio + divisor / 2) // divisor * divisor)
    return 2 * channels * hidden + hidden + channels


def test_default_is_se_after_the_last_dense_block():
    model = SEDenseNet()
    assert model.block_channels == (256, 512, 1024, 1024)
    assert list(model.injected_attention) == ['stages_3']
    se = model.injected_attention['stages_3']
    assert isinstance(se, SELayer) and se.in_channels == 1024 and se.squeeze_channels == 64


def test_params_are_densenet121_plus_one_se_layer():
    plain = MODELS.build(classifier(dict(type='DenseNet', arch='121'), 1024))
    ours = MODELS.build(classifier(dict(type='se_plugin.SEDenseNet', arch='121'), 1024))
    assert num_params(plain) == 7_978_856  # torchvision / mmpretrain DenseNet-121
    assert num_params(ours) - num_params(plain) == se_params(1024) == 132_160


def test_se_after_every_dense_block():
    model = SEDenseNet(arch=TINY, attn_stages=(True, True, True), out_indices=(0, 1, 2))
    assert model.block_channels == (32, 32, 32)  # 16+2*8=32 -> 16 -> 32 -> 16 -> 32
    assert list(model.injected_attention) == ['stages_0', 'stages_1', 'stages_2']
    outs = model.eval()(torch.rand(2, 3, 64, 64))
    assert [tuple(o.shape) for o in outs] == [(2, 16, 8, 8), (2, 16, 4, 4), (2, 32, 4, 4)]


def test_se_recalibrates_the_dense_block_output_before_the_transition():
    torch.manual_seed(0)
    model = SEDenseNet(arch=TINY, attn_stages=(False, True, False)).eval()
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        feats = model.transitions[0](model.stages[0](model.stem(x)))
        block = model.stages[1](feats)  # the hook has applied SE already
        raw = torch.cat([feats] + _layers_of(model.stages[1], feats), 1)
        se = model.injected_attention['stages_1']
        assert torch.allclose(block, se(raw))


def _layers_of(dense_block, x):
    features = [x]
    for layer in dense_block.block:
        features.append(layer(features))
    return features[1:]


def test_densenet_weights_load_with_only_se_missing():
    plain = DenseNet(arch=TINY)
    model = SEDenseNet(arch=TINY, attn_stages=(True, True, True))
    missing, unexpected = model.load_state_dict(plain.state_dict(), strict=False)
    assert unexpected == []
    assert sorted({k.split('.')[1] for k in missing}) == ['stages_0', 'stages_1', 'stages_2']


def test_se_trains_and_frozen_stages_still_work():
    model = SEDenseNet(arch=TINY, frozen_stages=1)
    model.train()
    sum(o.sum() for o in model(torch.rand(2, 3, 32, 32))).backward()
    assert model.injected_attention['stages_2'].fc1.weight.grad.abs().sum() > 0
    assert all(not p.requires_grad for p in model.stages[0].parameters())


@pytest.mark.parametrize(
    'kwargs, error, match',
    [
        (dict(arch='122'), ValueError, "arch must be one of '121'"),
        (dict(attn_cfg='SELayer'), TypeError, 'attn_cfg must be a dict'),
        (dict(attn_stages=(True,)), ValueError, r'must be a tuple of 4 bools \(one per stage\)'),
        (dict(attn_cfg=dict(type='SELayer', squeeze_channels=2048)), ValueError, 'squeeze width'),
    ],
)
def test_clear_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        SEDenseNet(**kwargs)


def test_registered_and_resolves_from_mmpretrain_scope():
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import MODELS as MMPRETRAIN_MODELS

    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MMPRETRAIN_MODELS.build(dict(type='se_plugin.SEDenseNet', arch=TINY))
    assert isinstance(model, SEDenseNet)


@pytest.mark.parametrize(
    'path', ['configs/se_densenet121_imagenet.py', 'configs/se_densenet121_custom_folder.py']
)
def test_configs_build(path):
    cfg = Config.fromfile(os.path.join(REPO_ROOT, path))
    assert cfg.model.backbone.type == 'se_plugin.SEDenseNet'
    model = MODELS.build(cfg.model)
    assert isinstance(model.backbone, SEDenseNet)
    assert list(model.backbone.injected_attention) == ['stages_3']
    model.eval()
    with torch.no_grad():
        scores = model(torch.rand(1, 3, 64, 64), mode='tensor')
    assert scores.shape == (1, cfg.model.head.num_classes)
