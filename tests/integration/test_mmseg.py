"""se_plugin inside real mmsegmentation 1.2.2 segmentors: our attention layers as plugins
of mmseg's ResNet-V1c in an FCN, and our backbones in Semantic FPN / FCN. Every shipped
config under configs/mmseg/ is built full-size (channels checked) and, with shrunk widths,
trained one step on random 64x64 images (forward + loss + backward)."""

import copy

import pytest

pytest.importorskip('mmseg', reason='integration env only (tools/run_integration_tests.sh)')

import torch  # noqa: E402

from .mm_helpers import (  # noqa: E402
    WIDTH,
    ZOO,
    assert_attention_trained,
    attention_modules,
    backbone_channels,
    build,
    configs,
    count_calls,
    doc_snippet,
    load_config,
    losses_text,
    predict,
    seg_batch,
    shrink_seg,
    train_step,
    zoo_plugins,
)

PLUGIN_CONFIG = 'configs/mmseg/fcn_r50-se-plugin-d8_4xb2-40k_cityscapes-512x1024.py'
BACKBONE_CONFIGS = [c for c in configs('mmseg') if c != PLUGIN_CONFIG]
OURS = ('se_plugin.SEResNet', 'se_plugin.SEResNeXt', 'se_plugin.SKNet')


def tiny_segmentor(cfg_model):
    model_cfg = copy.deepcopy(cfg_model)
    shrink_seg(model_cfg)
    torch.manual_seed(0)
    return build(model_cfg, 'mmseg', init=True)


def head_channels(model_cfg):
    """Channels the decoder side expects from each backbone output it reads."""
    if model_cfg.get('neck') is not None:
        return list(model_cfg.neck.in_channels)
    heads = [model_cfg.decode_head, model_cfg.get('auxiliary_head')]
    return {h.in_index: h.in_channels for h in heads if h is not None}


def test_configs_shipped():
    assert PLUGIN_CONFIG in configs('mmseg')
    assert len(BACKBONE_CONFIGS) >= 3


@pytest.mark.parametrize('path', BACKBONE_CONFIGS)
def test_backbone_config_full_size_channels_match_decoder(path):
    cfg = load_config(path)
    assert cfg.model.backbone.type in OURS
    assert cfg.model.backbone.out_indices == (0, 1, 2, 3)
    assert cfg.model.pretrained is None and cfg.model.backbone.init_cfg is None
    widths = backbone_channels(cfg.model.backbone, 'mmseg')
    expected = head_channels(cfg.model)
    if isinstance(expected, dict):
        assert {i: widths[i] for i in expected} == expected
    else:
        assert widths == expected


@pytest.mark.parametrize('path', BACKBONE_CONFIGS)
def test_backbone_config_trains_and_predicts(path):
    cfg = load_config(path)
    model = tiny_segmentor(cfg.model)
    assert type(model.backbone).__name__ == cfg.model.backbone.type.split('.')[-1]
    batch = seg_batch(num_classes=cfg.model.decode_head.num_classes)
    loss, log_vars = train_step(model, batch, 'mmseg')
    print(path, losses_text(log_vars))
    assert_attention_trained(model.backbone)
    results = predict(model, batch, 'mmseg')
    assert results[0].pred_sem_seg.data.shape == (1, 64, 64)


def test_plugin_config_full_size():
    cfg = load_config(PLUGIN_CONFIG)
    model = build(cfg.model, 'mmseg')
    assert type(model.backbone).__name__ == 'ResNetV1c'
    layers = attention_modules(model.backbone)
    assert len(layers) == 13
    assert {m.in_channels for _, m in layers} == {512, 1024, 2048}


@pytest.mark.parametrize('snippet', [None, 'se-plugin-options', 'se-plugin-after-conv2'], ids=str)
def test_se_plugin_trains_in_fcn(snippet):
    cfg = load_config(PLUGIN_CONFIG)
    if snippet is not None:
        cfg.model.backbone.plugins = doc_snippet(snippet)['plugins']
    model = tiny_segmentor(cfg.model)
    assert type(model.backbone).__module__.startswith('mmseg.')
    loss, log_vars = train_step(model, seg_batch(), 'mmseg')
    print(snippet, losses_text(log_vars))
    assert assert_attention_trained(model.backbone) == 13


@pytest.mark.parametrize('name', ZOO)
def test_zoo_module_trains_as_mmseg_plugin(name):
    """Each attention-zoo module as an mmcv plugin of mmseg's own ResNet-V1c (dilated
    stages 3-4) in FCN: built with each stage's width, run in all 13 bottlenecks of
    stages 2-4, trained."""
    cfg = load_config(PLUGIN_CONFIG)
    cfg.model.backbone.plugins = zoo_plugins(name)
    model = tiny_segmentor(cfg.model)
    assert type(model.backbone).__module__.startswith('mmseg.')
    modules = attention_modules(model.backbone, kinds=(name,))
    assert len(modules) == 13
    assert {m.in_channels for _, m in modules} == {8 * WIDTH, 16 * WIDTH, 32 * WIDTH}
    with count_calls(model.backbone, (name,)) as calls:
        loss, log_vars = train_step(model, seg_batch(), 'mmseg')
    print(name, losses_text(log_vars))
    assert list(calls.values()) == [2] * 13  # once per block in each of the two steps
    if any(True for _, m in modules for _ in m.parameters()):  # SimAM has none
        assert assert_attention_trained(model.backbone, kinds=(name,)) == 13


def test_chained_plugins_do_not_compose_in_mmseg():
    """The peer defect the docs warn about: mmseg 1.2.2's Bottleneck.forward_plugin feeds
    each plugin of a position the block input, so only the last one counts."""
    cfg = load_config(PLUGIN_CONFIG)
    cfg.model.backbone.plugins = doc_snippet('mmdet-chained-plugins')['plugins']
    model = tiny_segmentor(cfg.model)
    block = model.backbone.layer4[0]
    names = block.after_conv3_plugin_names
    first, second = (getattr(block, n) for n in names)
    x = torch.rand(2, first.in_channels, 4, 4)
    with torch.no_grad():
        out = block.forward_plugin(x, names)
        assert torch.allclose(out, second(x))
        assert not torch.allclose(out, second(first(x)))
