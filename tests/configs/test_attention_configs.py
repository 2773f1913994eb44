"""The attention-zoo configs: each module in SE-ResNet-50's slot (same recipe), the
ResNet-D variants of ECA, and the MNIST-5k quick-start twins of the comparison."""

from pathlib import Path

import pytest
import torch
from mmengine.config import Config

import se_plugin  # noqa: F401  (registers the se_plugin modules)
from se_plugin.models import SEResNet
from se_plugin.models.layers import ATTENTION_LAYERS
from se_plugin.registry import MODELS

CONFIGS = Path(__file__).resolve().parents[2] / 'configs'

# config stem -> the registered module in the slot
MODULES = {
    'eca': 'ECALayer',
    'ese': 'EffectiveSELayer',
    'cbam': 'CBAM',
    'ge': 'GatherExcite',
    'gc': 'GlobalContext',
    'coordatt': 'CoordAttention',
    'simam': 'SimAM',
    'srm': 'SRMLayer',
}


def build(name):
    cfg = Config.fromfile(CONFIGS / name)
    model = MODELS.build(cfg.model)
    model.eval()
    return cfg, model


def slot_modules(model):
    """The attention module of every block, in order (None where the slot is empty)."""
    backbone = model.backbone
    return [block.attn for i in range(4) for block in getattr(backbone, f'layer{i + 1}')]


def test_every_module_has_an_imagenet_and_a_quickstart_config():
    assert {'SELayer', *MODULES.values()} == set(ATTENTION_LAYERS)  # SE: configs/*.py
    imagenet = {p.name for p in (CONFIGS / 'attention').glob('*_resnet50_imagenet.py')}
    quick = {p.name for p in (CONFIGS / 'quickstart' / 'attention').glob('*.py')}
    assert imagenet == {f'{stem}_resnet50_imagenet.py' for stem in MODULES}
    twins = {f'{stem}_resnet18_mnist5k.py' for stem in MODULES}
    assert quick == twins | {'sweep_base_resnet18_mnist5k.py'}


def test_sweep_base_leaves_only_the_type_in_the_slot():
    """A sweep over model.backbone.attn_cfg.type starts from a type-only attn_cfg, so every
    module is built with its own defaults (SE's ratio=4 would reach modules without one)."""
    cfg, model = build('quickstart/attention/sweep_base_resnet18_mnist5k.py')
    assert cfg.model.backbone.attn_cfg == dict(type='se_plugin.SELayer')
    assert {m.squeeze_channels for m in slot_modules(model)} == {8, 16}  # r=16, divisor 8
    for name in MODULES.values():
        cfg.model.backbone.attn_cfg.type = f'se_plugin.{name}'
        assert type(slot_modules(MODELS.build(cfg.model))[0]).__name__ == name


@pytest.mark.parametrize('stem', sorted(MODULES))
def test_imagenet_config_is_se_resnet50_with_the_module(stem):
    cfg, model = build(f'attention/{stem}_resnet50_imagenet.py')
    base = Config.fromfile(CONFIGS / 'se_resnet50_imagenet.py')
    # the same recipe as SE-ResNet-50: only the module in the slot differs
    for key in ('train_dataloader', 'optim_wrapper', 'param_scheduler', 'train_cfg'):
        assert cfg[key] == base[key], key
    base.model.backbone.attn_cfg = cfg.model.backbone.attn_cfg
    assert cfg.model == base.model
    assert cfg.model.backbone.attn_cfg.type == f'se_plugin.{MODULES[stem]}'
    assert type(model.backbone) is SEResNet and model.backbone.depth == 50
    cls = MODELS.get(f'se_plugin.{MODULES[stem]}')
    modules = slot_modules(model)
    assert len(modules) == 16 and all(type(m) is cls for m in modules)
    firsts = [getattr(model.backbone, f'layer{i}')[0].attn for i in range(1, 5)]
    assert [m.in_channels for m in firsts] == [256, 512, 1024, 2048]
    assert model(torch.rand(1, 3, 64, 64), mode='tensor').shape == (1, 1000)


def test_eca_kernel_sizes_follow_the_width():
    # k = |log2(C) / 2 + 1 / 2|, the nearest odd number up: 5, 5, 5, 7 for 256-2048 channels
    _, model = build('attention/eca_resnet50_imagenet.py')
    stages = [getattr(model.backbone, f'layer{i}')[0].attn for i in range(1, 5)]
    assert [m.conv.kernel_size for m in stages] == [(5,), (5,), (5,), (7,)]


@pytest.mark.parametrize('name, depth', [('eca_resnet50d', 50), ('eca_resnet101d', 101)])
def test_resnet_d_configs(name, depth):
    cfg, model = build(f'attention/{name}_imagenet.py')
    backbone = model.backbone
    assert backbone.depth == depth and backbone.deep_stem and backbone.avg_down
    stem = [m.out_channels for m in backbone.stem.modules() if isinstance(m, torch.nn.Conv2d)]
    assert stem == [32, 32, 64]
    # the avg-down shortcut: a pool before the 1x1 conv where the stage strides
    assert isinstance(backbone.layer2[0].downsample[0], torch.nn.AvgPool2d)
    assert all(type(m).__name__ == 'ECALayer' for m in slot_modules(model))
    assert len(slot_modules(model)) == sum(backbone.stage_blocks)


@pytest.mark.parametrize('stem', sorted(MODULES))
def test_quickstart_twin_swaps_only_the_module(stem):
    cfg, model = build(f'quickstart/attention/{stem}_resnet18_mnist5k.py')
    base = Config.fromfile(CONFIGS / 'quickstart' / 'se_resnet18_mnist5k.py')
    assert cfg.train_dataloader == base.train_dataloader and cfg.train_cfg == base.train_cfg
    assert cfg.randomness == base.randomness
    assert dict(cfg.model.backbone, attn_cfg=None) == dict(base.model.backbone, attn_cfg=None)
    cls = MODELS.get(f'se_plugin.{MODULES[stem]}')
    modules = slot_modules(model)
    assert len(modules) == 8 and all(type(m) is cls for m in modules)
    assert model(torch.rand(2, 1, 28, 28), mode='tensor').shape == (2, 10)


def hidden_width(module):
    """The reduced width of a module with a reduction."""
    name = type(module).__name__
    if name == 'CBAM':
        return module.squeeze_channels
    if name == 'GlobalContext':
        return module.hidden_channels
    if name == 'GatherExcite':
        return module.fc1.out_channels
    assert name == 'CoordAttention', name
    return module.conv1.out_channels


@pytest.mark.parametrize(
    'stem, imagenet, quickstart',
    [
        # width of the last block's reduction: 2048 channels (ImageNet), 256 (MNIST)
        ('cbam', 2048 // 16, 256 // 4),
        ('gc', 2048 // 16, 256 // 4),
        ('ge', 2048 // 16, 256 // 4),
        ('coordatt', 2048 // 32, 256 // 8),
    ],
)
def test_reductions_are_the_papers_and_scale_like_the_quickstart_se(stem, imagenet, quickstart):
    _, big = build(f'attention/{stem}_resnet50_imagenet.py')
    _, small = build(f'quickstart/attention/{stem}_resnet18_mnist5k.py')
    assert hidden_width(slot_modules(big)[-1]) == imagenet
    assert hidden_width(slot_modules(small)[-1]) == quickstart
    if stem == 'ge':
        assert {(m.variant, m.extent) for m in slot_modules(big)} == {('theta-plus', 8)}
