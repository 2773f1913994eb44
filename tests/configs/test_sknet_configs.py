"""The SKNet configs load through `_base_` inheritance and build their models."""

from pathlib import Path

import pytest
import torch
from mmengine.config import Config

import se_plugin  # noqa: F401  (registers the se_plugin modules)
from se_plugin.models import SKConv, SKNet
from se_plugin.registry import MODELS

CONFIGS = Path(__file__).resolve().parents[2] / 'configs'

# config: (depth, num_paths, sk_ratio, head in_channels)
IMAGENET = {
    'sknet50_imagenet.py': (50, 2, 16, 2048),
    'sknet101_imagenet.py': (101, 2, 16, 2048),
    'sknet26_imagenet.py': (26, 2, 16, 2048),
    'ablations/sknet50_m3_imagenet.py': (50, 3, 16, 2048),
    'ablations/sknet50_m1_imagenet.py': (50, 1, 16, 2048),
    'ablations/sknet50_r8_imagenet.py': (50, 2, 8, 2048),
}


def build(name: str):
    cfg = Config.fromfile(CONFIGS / name)
    model = MODELS.build(cfg.model)
    model.eval()
    return cfg, model


@pytest.mark.parametrize('name', sorted(IMAGENET))
def test_imagenet_configs_build(name):
    depth, num_paths, sk_ratio, head_channels = IMAGENET[name]
    cfg, model = build(name)
    assert cfg.default_scope == 'se_plugin'
    assert cfg.train_dataloader.dataset.type == 'ImageNet'
    assert cfg.train_cfg.max_epochs == 100
    backbone = model.backbone
    assert type(backbone) is SKNet
    assert backbone.depth == depth and backbone.groups == 32 and backbone.width_per_group == 4
    convs = [m for m in backbone.modules() if isinstance(m, SKConv)]
    assert len(convs) == sum(backbone.stage_blocks)
    assert all(len(c.paths) == num_paths and c.ratio == sk_ratio for c in convs)
    assert all(b.attn is None for b in backbone.modules() if hasattr(b, 'attn'))
    assert backbone.feat_dim == model.head.fc.in_features == head_channels
    assert model.head.fc.out_features == 1000


def test_sknet50_config_has_the_paper_size():
    _, model = build('sknet50_imagenet.py')
    assert sum(p.numel() for p in model.parameters()) == pytest.approx(27.5e6, rel=0.005)


def test_quickstart_config_builds_and_backpropagates_on_digits():
    cfg, model = build('quickstart/sknet_mnist5k.py')
    base = Config.fromfile(CONFIGS / 'quickstart/se_resnet18_mnist5k.py')
    for key in ('train_dataloader', 'val_dataloader', 'optim_wrapper', 'param_scheduler',
                'train_cfg', 'env_cfg', 'default_hooks', 'randomness'):  # fmt: skip
        assert cfg[key] == base[key], key
    backbone = model.backbone
    assert type(backbone) is SKNet
    assert backbone.stem_type == 'cifar' and backbone.depth == 26
    assert backbone.attn_cfg is None
    assert backbone.feat_dim == model.head.fc.in_features
    assert model.head.fc.out_features == 10
    model.train()
    inputs = torch.rand(4, 1, 28, 28) * 255
    data = dict(inputs=list(inputs), data_samples=None)
    data = model.data_preprocessor(data, training=False)
    logits = model(data['inputs'], mode='tensor')
    assert logits.shape == (4, 10)
    logits.sum().backward()
    assert all(p.grad is not None for p in model.parameters())
