"""se_plugin.convert.meta: the source's preprocessing and a runnable test config in meta."""

import pytest

from se_plugin.apis import parse_config_text
from se_plugin.convert import ConversionError, get_arch
from se_plugin.convert.meta import config_text, converted_config, source_preprocessing

pytest.importorskip('timm')


def test_timm_tag_preprocessing():
    prep = source_preprocessing(get_arch('timm', 'seresnet50'), 'a1_in1k', num_classes=1000)
    assert prep['weights'] == 'seresnet50.a1_in1k' and prep['imagenet_1k']
    assert prep['data_cfg']['crop_pct'] == 0.95 and prep['data_cfg']['input_size'] == (3, 224, 224)
    assert prep['test_pipeline'][1]['scale'] == 235  # floor(224 / 0.95)
    assert len(prep['classes']) == 1000 and prep['classes'][0] == 'tench, Tinca tinca'
    test_size = source_preprocessing(get_arch('timm', 'seresnet50'), 'a1_in1k', True, 1000)
    assert (
        test_size['test_pipeline'][2]['crop_size'] == 288 and '(test size)' in test_size['origin']
    )


def test_class_names_only_for_the_sources_label_set():
    prep = source_preprocessing(get_arch('timm', 'seresnet50'), 'ra2_in1k', num_classes=10)
    assert prep['classes'] is None and not prep['imagenet_1k']
    assert prep['data_preprocessor']['num_classes'] == 10


def test_mmpretrain_preprocessing():
    spec = get_arch('mmpretrain', 'seresnet50')
    prep = source_preprocessing(spec, num_classes=1000)
    assert prep['weights'] == 'seresnet50_8xb32_in1k' and prep['data_cfg'] is None
    assert prep['test_pipeline'][1]['backend'] == 'pillow' and len(prep['classes']) == 1000
    # no model of its own in mmpretrain's index: mmpretrain's ImageNet evaluation pipeline
    other = source_preprocessing(get_arch('mmpretrain', 'seresnet152'), num_classes=1000)
    assert other['weights'] is None and other['test_pipeline'] == prep['test_pipeline']
    with pytest.raises(
        ConversionError, match="unknown --tag 'seresnet101_8xb32_in1k' for mmpretrain seresnet50"
    ):
        source_preprocessing(spec, 'seresnet101_8xb32_in1k')
    with pytest.raises(ConversionError, match='--test-size .* only for --from timm'):
        source_preprocessing(spec, use_test_size=True)


def test_config_text_round_trip():
    spec = get_arch('timm', 'seresnet18')
    prep = source_preprocessing(spec, num_classes=1000)
    cfg = converted_config(spec.model_config(1000), prep)
    assert cfg['test_dataloader']['dataset']['pipeline'] == cfg['test_pipeline']
    assert cfg['test_dataloader']['dataset']['type'] == 'ImageNet'
    parsed = parse_config_text(config_text(cfg))
    assert parsed['test_pipeline'] == cfg['test_pipeline']
    assert parsed['model']['backbone']['depth'] == 18 and parsed['default_scope'] == 'se_plugin'
    # no ImageNet-1k head: no ImageNet test set, still a pipeline for predictions
    small = converted_config(spec.model_config(10), source_preprocessing(spec, num_classes=10))
    assert 'test_dataloader' not in small and small['test_pipeline'] == cfg['test_pipeline']
