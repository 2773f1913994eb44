"""se_plugin.benchmark.models: model specs and the modules they name."""

import pytest
import torch

from se_plugin.benchmark import (
    LogitsModel,
    available,
    build_model,
    parse_spec,
)
from se_plugin.models import SELayer

from .tiny import TINY


def test_parse_spec():
    assert parse_spec('torchvision.resnet50') == ('torchvision.resnet50', {})
    assert parse_spec('se_plugin.SEResNet:depth=50,se_cfg.impl=reference,strides=(1,2,2,2)') == (
        'se_plugin.SEResNet',
        {'depth': 50, 'se_cfg': {'impl': 'reference'}, 'strides': (1, 2, 2, 2)},
    )
    assert parse_spec("configs/a.py:backbone.se_cfg.squeeze='max'") == (
        'configs/a.py',
        {'backbone': {'se_cfg': {'squeeze': 'max'}}},
    )
    with pytest.raises(ValueError, match='key=value'):
        parse_spec('se_plugin.SEResNet:50')


def test_build_model_specs(repo_root):
    tiny = build_model(TINY, num_classes=10)
    assert isinstance(tiny, LogitsModel)
    tiny.eval()
    assert tiny(torch.randn(1, 3, 32, 32)).shape == (1, 10)
    layers = [m for m in tiny.modules() if isinstance(m, SELayer)]
    # nested overrides keep the constructor's other se_cfg defaults
    assert layers and {(m.impl, m.squeeze) for m in layers} == {('fused', 'avg')}
    assert layers[0].squeeze_channels == 8  # se_cfg.ratio=4 on 32 channels, divisor 8
    ref = build_model(TINY + ',se_cfg.impl=reference', num_classes=10)
    assert {m.impl for m in ref.modules() if isinstance(m, SELayer)} == {'reference'}
    # se_cfg is SEResNet's argument, reached through SEResNeXt's **kwargs
    ref_x = build_model('se_plugin.SEResNeXt:depth=50,se_cfg.impl="reference"')
    layers = [m for m in ref_x.modules() if isinstance(m, SELayer)]
    assert len(layers) == 16 and {(m.impl, m.squeeze) for m in layers} == {('reference', 'avg')}
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
