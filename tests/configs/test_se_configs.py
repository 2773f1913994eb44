"""SE configs: the recipes, the quick start, and one-line ablations that build."""

from pathlib import Path

import pytest
import torch
from mmengine.config import Config

from se_plugin.models import SELayer, SEResNet, SEResNeXt
from se_plugin.registry import MODELS

CONFIGS = Path(__file__).resolve().parents[2] / 'configs'


def build(name):
    cfg = Config.fromfile(CONFIGS / name)
    return cfg, MODELS.build(cfg.model)


def se_layers(model):
    return [m for m in model.modules() if isinstance(m, SELayer)]


@pytest.mark.parametrize(
    'name, cls, depth',
    [
        ('se_resnet50_imagenet.py', SEResNet, 50),
        ('se_resnet101_imagenet.py', SEResNet, 101),
        ('se_resnext50_32x4d_imagenet.py', SEResNeXt, 50),
    ],
)
def test_imagenet_recipes(name, cls, depth):
    cfg, model = build(name)
    assert type(model.backbone) is cls and model.backbone.depth == depth
    # the standard recipe: 8 GPUs x 32, SGD lr 0.1, 100 epochs, lr / 10 every 30 epochs
    assert cfg.train_dataloader.batch_size == 32 and cfg.auto_scale_lr.base_batch_size == 256
    assert cfg.optim_wrapper.optimizer == dict(
        type='SGD', lr=0.1, momentum=0.9, weight_decay=0.0001
    )
    assert cfg.train_cfg.max_epochs == 100
    assert cfg.param_scheduler.milestones == [30, 60, 90]
    assert cfg.train_dataloader.dataset.data_root == 'data/imagenet'
    assert len(se_layers(model)) == sum(model.backbone.stage_blocks)


def _ablation_lines(path):
    return [
        line
        for line in path.read_text().splitlines()
        if line.strip() and not line.startswith(('#', '_base_'))
    ]


SE_ABLATIONS = sorted(p.name for p in (CONFIGS / 'ablations').glob('*resnet50*_imagenet.py'))


SPEED = sorted(p.name for p in (CONFIGS / 'speed').glob('*_imagenet.py'))


@pytest.mark.parametrize(
    'folder, name', [('ablations', n) for n in SE_ABLATIONS] + [('speed', n) for n in SPEED]
)
def test_ablations_are_one_line_diffs(folder, name):
    path = CONFIGS / folder / name
    assert "_base_ = ['../se_resnet50_imagenet.py']" in path.read_text()
    assert len(_ablation_lines(path)) == 1


@pytest.mark.parametrize('folder', ['ablations', 'speed'])
def test_paper_ablations_change_the_model_and_speed_toggles_do_not(folder):
    """ablations/ holds the papers' model changes, speed/ the engineering toggles."""
    lines = [line for p in sorted((CONFIGS / folder).glob('*.py')) for line in _ablation_lines(p)]
    assert lines
    changes_model = [line.startswith('model = ') for line in lines]
    assert all(changes_model) if folder == 'ablations' else not any(changes_model)


@pytest.mark.parametrize(
    'name, check',
    [
        ('se_resnet50_r2_imagenet.py', lambda m: se_layers(m)[-1].squeeze_channels == 1024),
        ('se_resnet50_r4_imagenet.py', lambda m: se_layers(m)[-1].squeeze_channels == 512),
        ('se_resnet50_r8_imagenet.py', lambda m: se_layers(m)[-1].squeeze_channels == 256),
        ('se_resnet50_r32_imagenet.py', lambda m: se_layers(m)[-1].squeeze_channels == 64),
        ('se_resnet50_squeeze_max_imagenet.py', lambda m: se_layers(m)[0].squeeze == 'max'),
        (
            'se_resnet50_gate_tanh_imagenet.py',
            lambda m: isinstance(se_layers(m)[0].gate, torch.nn.Tanh),
        ),
        (
            'se_resnet50_gate_relu_imagenet.py',
            lambda m: isinstance(se_layers(m)[0].gate, torch.nn.ReLU),
        ),
        (
            'se_resnet50_position_pre_imagenet.py',
            lambda m: m.backbone.layer1[0].attn.in_channels == 64,
        ),
        ('se_resnet50_position_post_imagenet.py', lambda m: m.backbone.attn_position == 'post'),
        (
            'se_resnet50_position_identity_imagenet.py',
            lambda m: m.backbone.layer1[0].attn_position == 'identity',
        ),
        (
            'se_resnet50_position_after_conv2_imagenet.py',
            lambda m: m.backbone.layer4[0].attn.in_channels == 512,
        ),
        (
            'se_resnet50_stages_234_imagenet.py',
            lambda m: m.backbone.layer1[0].attn is None and m.backbone.layer2[0].attn is not None,
        ),
        ('se_resnet50_stages_4_imagenet.py', lambda m: len(se_layers(m)) == 3),
        ('resnet50_no_se_imagenet.py', lambda m: not se_layers(m)),
    ],
)
def test_ablation_changes_what_it_says(name, check):
    _, model = build(f'ablations/{name}')
    assert check(model)


@pytest.mark.parametrize(
    'name, has_se',
    [
        ('quickstart/se_resnet18_mnist5k.py', True),
        ('quickstart/resnet18_mnist5k.py', False),
    ],
)
def test_quickstart_twins(name, has_se):
    cfg, model = build(name)
    assert cfg.train_dataloader.dataset.type == 'se_plugin.MNIST5k'
    assert bool(se_layers(model)) == has_se
    model.eval()
    out = model(torch.rand(2, 1, 28, 28), mode='tensor')
    assert out.shape == (2, 10)


def test_quickstart_twin_is_one_line():
    assert len(_ablation_lines(CONFIGS / 'quickstart/resnet18_mnist5k.py')) == 1
