"""se_plugin inside real mmdet 3.3 detectors: our attention layers as plugins of mmdet's
ResNet, and our backbones (SEResNet, SEResNeXt, SKNet, AttentionInjected) in place of it.
Every shipped config under configs/mmdet/ is built full-size (channels checked) and, with
shrunk widths, trained one step on random 64x64 images (forward + loss + backward)."""

import copy
import re

import pytest

pytest.importorskip('mmdet', reason='integration env only (tools/run_integration_tests.sh)')

import torch  # noqa: E402

from tests.helpers import readme_blocks, run_readme_blocks  # noqa: E402

from .mm_helpers import (  # noqa: E402
    WIDTH,
    ZOO,
    assert_attention_trained,
    attention_modules,
    backbone_channels,
    build,
    configs,
    count_calls,
    det_batch,
    doc_snippet,
    load_config,
    losses_text,
    predict,
    shrink_det,
    train_step,
    zoo_plugins,
)

PLUGIN_CONFIG = 'configs/mmdet/retinanet_r50-se-plugin_fpn_1x_coco.py'
BACKBONE_CONFIGS = [c for c in configs('mmdet') if c != PLUGIN_CONFIG]
OURS = ('se_plugin.SEResNet', 'se_plugin.SEResNeXt', 'se_plugin.SKNet')


def tiny_detector(cfg_model):
    model_cfg = copy.deepcopy(cfg_model)
    shrink_det(model_cfg)
    torch.manual_seed(0)
    return build(model_cfg, 'mmdet', init=True)


def test_configs_shipped():
    assert PLUGIN_CONFIG in configs('mmdet')
    assert len(BACKBONE_CONFIGS) >= 3


@pytest.mark.parametrize('path', BACKBONE_CONFIGS)
def test_backbone_config_full_size_channels_match_neck(path):
    cfg = load_config(path)
    assert cfg.model.backbone.type in OURS
    assert cfg.model.backbone.out_indices == (0, 1, 2, 3)
    # nothing left over from mmdet's ResNet (its torchvision weights) after _delete_
    assert cfg.model.backbone.init_cfg is None
    assert backbone_channels(cfg.model.backbone, 'mmdet') == list(cfg.model.neck.in_channels)


@pytest.mark.parametrize('path', BACKBONE_CONFIGS)
def test_backbone_config_trains_and_predicts(path):
    cfg = load_config(path)
    model = tiny_detector(cfg.model)
    assert type(model.backbone).__name__ == cfg.model.backbone.type.split('.')[-1]
    batch = det_batch()
    loss, log_vars = train_step(model, batch, 'mmdet')
    print(path, losses_text(log_vars))
    assert_attention_trained(model.backbone)
    results = predict(model, batch, 'mmdet')
    assert len(results) == 2 and 'bboxes' in results[0].pred_instances


def test_plugin_config_full_size():
    cfg = load_config(PLUGIN_CONFIG)
    model = build(cfg.model, 'mmdet')
    names = [n for n, _ in attention_modules(model.backbone)]
    # stages 2-4 of ResNet-50: 4 + 6 + 3 bottlenecks, one SE after conv3 in each
    assert len(names) == 13 and all(n.startswith(('layer2', 'layer3', 'layer4')) for n in names)
    widths = {m.in_channels for _, m in attention_modules(model.backbone)}
    assert widths == {512, 1024, 2048}


def plugin_model(plugins):
    cfg = load_config(PLUGIN_CONFIG)
    if plugins is not None:
        cfg.model.backbone.plugins = plugins
    return tiny_detector(cfg.model)


@pytest.mark.parametrize('snippet', [None, 'se-plugin-options', 'se-plugin-after-conv2'], ids=str)
def test_se_plugin_trains_in_retinanet(snippet):
    plugins = None if snippet is None else doc_snippet(snippet)['plugins']
    model = plugin_model(plugins)
    assert type(model.backbone).__module__.startswith('mmdet.')  # mmdet's own ResNet
    loss, log_vars = train_step(model, det_batch(), 'mmdet')
    print(snippet, losses_text(log_vars))
    assert assert_attention_trained(model.backbone) == 13


@pytest.mark.parametrize('name', ZOO)
def test_zoo_module_trains_as_mmdet_plugin(name):
    """Each attention-zoo module as an mmcv plugin of mmdet's own ResNet-50 in RetinaNet:
    built with each stage's width, run in all 13 bottlenecks of stages 2-4, trained."""
    model = plugin_model(zoo_plugins(name))
    assert type(model.backbone).__module__.startswith('mmdet.')
    modules = attention_modules(model.backbone, kinds=(name,))
    assert len(modules) == 13
    assert {m.in_channels for _, m in modules} == {8 * WIDTH, 16 * WIDTH, 32 * WIDTH}
    with count_calls(model.backbone, (name,)) as calls:
        loss, log_vars = train_step(model, det_batch(), 'mmdet')
    print(name, losses_text(log_vars))
    assert list(calls.values()) == [2] * 13  # once per block in each of the two steps
    if any(True for _, m in modules for _ in m.parameters()):  # SimAM has none
        assert assert_attention_trained(model.backbone, kinds=(name,)) == 13


def test_chained_plugins_compose_in_mmdet():
    plugins = doc_snippet('mmdet-chained-plugins')['plugins']
    model = plugin_model(plugins)
    block = model.backbone.layer4[0]
    names = block.after_conv3_plugin_names
    assert len(names) == 2
    first, second = (getattr(block, n) for n in names)
    x = torch.rand(2, first.in_channels, 4, 4)
    with torch.no_grad():
        assert torch.allclose(block.forward_plugin(x, names), second(first(x)))
    train_step(model, det_batch(), 'mmdet')
    assert_attention_trained(model.backbone)


def test_sk_conv_plugin_per_stage():
    """SKConv keeps the shape only with out_channels == in_channels and stride 1: one
    plugin entry per stage, each with that stage's width (full-size ResNet-50)."""
    plugins = doc_snippet('sk-plugin')['plugins']
    cfg = load_config(PLUGIN_CONFIG)
    backbone_cfg = dict(cfg.model.backbone, plugins=plugins, init_cfg=None)
    torch.manual_seed(0)
    with torch.no_grad():
        assert backbone_channels(backbone_cfg, 'mmdet') == [256, 512, 1024, 2048]
    model = build(backbone_cfg, 'mmdet')
    model.train()
    outs = model(torch.rand(2, 3, 64, 64))
    sum(o.mean() for o in outs).backward()
    assert assert_attention_trained(model, kinds=('SKConv',)) == 13  # stage 1 is frozen


def test_attention_injected_builds_mmdet_resnet():
    """type='se_plugin.AttentionInjected' in an mmdet config: the inner type='ResNet' is
    mmdet's own (the caller's scope), its state-dict keys unchanged."""
    cfg = load_config(PLUGIN_CONFIG)
    cfg.model.backbone = doc_snippet('mmdet-injected')['backbone']
    full = build(cfg.model.backbone, 'mmdet')
    assert type(full).__module__ == 'mmdet.models.backbones.resnet'
    assert len(full.injected_attention) == 16
    assert {m.in_channels for m in full.injected_attention.values()} == {256, 512, 1024, 2048}
    assert 'layer1.0.conv1.weight' in full.state_dict()

    model = tiny_detector(cfg.model)
    loss, log_vars = train_step(model, det_batch(), 'mmdet')
    print(losses_text(log_vars))
    # the injected modules are not under layer1, so frozen_stages=1 leaves them trainable
    assert assert_attention_trained(model.backbone) == 16


def test_attention_injected_resnet18_in_retinanet():
    """Depth 18 (basic blocks: no plugins in mmdet) gets SE through injection."""
    snippet = doc_snippet('mmdet-injected-r18')
    cfg = load_config(PLUGIN_CONFIG)
    cfg.model.backbone = snippet['backbone']
    cfg.model.neck.update(snippet['neck'])
    assert backbone_channels(cfg.model.backbone, 'mmdet') == cfg.model.neck.in_channels
    model = tiny_detector(cfg.model)
    assert type(model.backbone).__module__ == 'mmdet.models.backbones.resnet'
    assert model.backbone.depth == 18 and len(model.backbone.injected_attention) == 8
    loss, log_vars = train_step(model, det_batch(), 'mmdet')
    print(losses_text(log_vars))
    assert assert_attention_trained(model.backbone) == 8


def test_readme_example_module_plugs_into_mmdet(tmp_path, monkeypatch):
    """The README's own attention module and RetinaNet config, written by the README's
    blocks as they stand: mmdet's ResNet-50 gets the user's gate (registered only in
    mmpretrain's registry) after conv3 of stages 2-4, and trains."""
    from mmengine.config import Config

    blocks = readme_blocks('Add your own attention module')
    writes = [b for b in blocks if not re.search(r'^python\b', b, re.M)]  # the files
    run_readme_blocks(writes, tmp_path, activate=False)
    example = tmp_path / 'work_dirs' / 'my_attention'
    monkeypatch.syspath_prepend(str(example))  # as the README's PYTHONPATH
    cfg = Config.fromfile(str(example / 'retinanet_r50-spatial-gate_fpn_1x_coco.py'))
    model = tiny_detector(cfg.model)
    assert type(model.backbone).__module__.startswith('mmdet.')  # mmdet's own ResNet
    loss, log_vars = train_step(model, det_batch(), 'mmdet')
    print(losses_text(log_vars))
    assert assert_attention_trained(model.backbone, kinds=('SpatialGate',)) == 13
