"""se_plugin.benchmark.models: model specs and the modules they name."""

import os.path as osp

import pytest
import torch

from se_plugin.benchmark import (
    LogitsModel,
    available,
    build_model,
    parse_spec,
)
from se_plugin.models import SELayer, SimAM
from se_plugin.models.layers import ATTENTION_LAYERS

from .tiny import TINY

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(ROOT, 'tools', 'benchmark.py')


def test_parse_spec():
    assert parse_spec('torchvision.resnet50') == ('torchvision.resnet50', {})
    assert parse_spec('se_plugin.SEResNet:depth=50,attn_cfg.impl=reference,strides=(1,2,2,2)') == (
        'se_plugin.SEResNet',
        {'depth': 50, 'attn_cfg': {'impl': 'reference'}, 'strides': (1, 2, 2, 2)},
    )
    assert parse_spec("configs/a.py:backbone.attn_cfg.squeeze='max'") == (
        'configs/a.py',
        {'backbone': {'attn_cfg': {'squeeze': 'max'}}},
    )
    with pytest.raises(ValueError, match='key=value'):
        parse_spec('se_plugin.SEResNet:50')


def test_build_model_specs(repo_root):
    tiny = build_model(TINY, num_classes=10)
    assert isinstance(tiny, LogitsModel)
    tiny.eval()
    assert tiny(torch.randn(1, 3, 32, 32)).shape == (1, 10)
    layers = [m for m in tiny.modules() if isinstance(m, SELayer)]
    # nested overrides keep the constructor's other attn_cfg defaults
    assert layers and {(m.impl, m.squeeze) for m in layers} == {('fused', 'avg')}
    assert layers[0].squeeze_channels == 8  # attn_cfg.ratio=4 on 32 channels, divisor 8
    ref = build_model(TINY + ',attn_cfg.impl=reference', num_classes=10)
    assert {m.impl for m in ref.modules() if isinstance(m, SELayer)} == {'reference'}
    # attn_cfg is SEResNet's argument, reached through SEResNeXt's **kwargs
    ref_x = build_model('se_plugin.SEResNeXt:depth=50,attn_cfg.impl="reference"')
    layers = [m for m in ref_x.modules() if isinstance(m, SELayer)]
    assert len(layers) == 16 and {(m.impl, m.squeeze) for m in layers} == {('reference', 'avg')}
    # another type replaces the default attn_cfg (SELayer's ratio is no SimAM argument)
    simam = build_model(TINY.replace('attn_cfg.ratio=4', 'attn_cfg.type="se_plugin.SimAM"'))
    assert sum(isinstance(m, SimAM) for m in simam.modules()) == 8  # one per block
    assert build_model('torchvision.resnet18', num_classes=10).fc.out_features == 10
    cfg_model = build_model(
        f'{repo_root}/configs/se_resnet50_imagenet.py:backbone.depth=18,head.in_channels=512'
    )
    cfg_model.eval()
    assert cfg_model(torch.randn(1, 3, 32, 32)).shape == (1, 1000)
    with pytest.raises(ValueError, match='unknown scope'):
        build_model('keras.ResNet50')
    with pytest.raises(ValueError, match='torchvision.models has no model'):
        build_model('torchvision.resnet5')
    with pytest.raises(FileNotFoundError):
        build_model('configs/nope.py')
    assert available('torchvision.resnet50') and available(TINY)


# ------------------------------------------------------------- attention zoo vs timm


def attention_commands() -> list:
    """The model specs of each tools/benchmark.py command in docs/attention.md's
    "## Commands" section, read with the tool's own parser."""
    import runpy
    import shlex

    with open(osp.join(ROOT, 'docs', 'attention.md'), encoding='utf-8') as f:
        text = f.read()
    section = text.split('\n## Commands\n', 1)[1].split('\n## ', 1)[0]
    lines = section.replace('\\\n', ' ').splitlines()
    parse_args = runpy.run_path(TOOL)['parse_args']
    argvs = [
        shlex.split(line)[2:] for line in lines if line.startswith('python tools/benchmark.py')
    ]
    return [parse_args(argv).models for argv in argvs]


def test_attention_commands_cover_every_module():
    from se_plugin.registry import MODELS

    ours = [models[0] for models in attention_commands()]
    types = [parse_spec(spec)[1]['attn_cfg']['type'] for spec in ours]
    zoo = [f'se_plugin.{name}' for name in ATTENTION_LAYERS if name != 'SELayer']
    assert sorted(types) == sorted(zoo)  # one command each
    assert all(MODELS.get(t) is not None for t in types)


def _attention_id(models: list) -> str:
    return parse_spec(models[0])[1]['attn_cfg']['type'].split('.')[-1]


@pytest.mark.parametrize('models', attention_commands(), ids=_attention_id)
def test_attention_specs_build_beside_timm(models):
    """Each command's specs build, at depth 18 here (same specs, ``depth=50`` ->
    ``depth=18``, ``timm.resnet50`` -> ``timm.resnet18``): ours has the module in all 8
    blocks, timm's the module it names, and where the docs pair them (all but CoordAtt,
    whose widths a spec cannot match), the same parameter count."""
    from se_plugin.registry import MODELS

    small = [m.replace('depth=50', 'depth=18').replace('timm.resnet50', 'timm.resnet18')
             for m in models]  # fmt: skip
    ours = build_model(small[0], num_classes=10)
    cls = MODELS.get(parse_spec(small[0])[1]['attn_cfg']['type'])
    assert sum(type(m) is cls for m in ours.modules()) == 8
    ours.eval()
    assert ours(torch.randn(1, 3, 32, 32)).shape == (1, 10)
    if len(small) == 1:  # no timm peer
        return
    timm = pytest.importorskip('timm')
    peer = build_model(small[1], num_classes=10)
    timm_cls = timm.layers.get_attn(parse_spec(small[1])[1]['block_args']['attn_layer'])
    timm_cls = getattr(timm_cls, 'func', timm_cls)  # 'gca' is a partial of GlobalContext
    assert sum(type(m) is timm_cls for m in peer.modules()) == 8
    if cls.__name__ != 'CoordAttention':
        assert sum(p.numel() for p in ours.parameters()) == sum(
            p.numel() for p in peer.parameters()
        )
