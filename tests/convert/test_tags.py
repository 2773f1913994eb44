"""se_plugin.convert.tags: the public weights each arch fits, read from timm and mmpretrain."""

import pytest

from se_plugin.convert import ARCHS, ConversionError
from se_plugin.convert.tags import (
    mmpretrain_models,
    mmpretrain_tags,
    split_weights_name,
    timm_tags,
    weight_tags,
    weights_table,
)

timm = pytest.importorskip('timm')


@pytest.mark.parametrize('arch', list(ARCHS['timm']))
def test_timm_tags_are_timms_pretrained_names(arch):
    tags = timm_tags(arch)
    assert [f'{arch}.{t}' for t in tags] == timm.list_pretrained(f'{arch}.*')
    for tag in tags:
        assert timm.models.get_pretrained_cfg(f'{arch}.{tag}').has_weights


def test_known_tags():
    assert timm_tags('seresnet50') == ['a1_in1k', 'a2_in1k', 'a3_in1k', 'ra2_in1k']
    assert timm_tags('seresnet18') == []
    assert mmpretrain_tags('seresnet50') == ['seresnet50_8xb32_in1k']
    assert mmpretrain_tags('seresnet152') == []
    assert weight_tags('timm', 'skresnet18') == ['ra_in1k']
    assert weight_tags('timm', 'legacy_senet154') == ['in1k']
    # mmpretrain's model index: SE-ResNet-50 and -101 have weights, nothing else
    with_weights = {a: weight_tags('mmpretrain', a) for a in ARCHS['mmpretrain']}
    assert {a: t for a, t in with_weights.items() if t} == {
        'seresnet50': ['seresnet50_8xb32_in1k'],
        'seresnet101': ['seresnet101_8xb32_in1k'],
    }
    model = mmpretrain_models()['seresnet101_8xb32_in1k']
    assert model['config'].endswith('configs/seresnet/seresnet101_8xb32_in1k.py')
    assert model['weights'].startswith('https://download.openmmlab.com/')


def test_weights_table_lists_every_arch():
    rows = weights_table()
    assert [(s, a) for s, a, _, _ in rows] == [(s, a) for s in ARCHS for a in ARCHS[s]]
    assert (
        'timm',
        'seresnet50',
        "timm.create_model('seresnet50')",
        timm_tags('seresnet50'),
    ) in rows


@pytest.mark.parametrize(
    'source, name, tag, expected',
    [
        ('timm', 'seresnet50', None, ('seresnet50', None)),
        ('timm', 'seresnet50.ra2_in1k', None, ('seresnet50', 'ra2_in1k')),
        ('timm', 'seresnet50.ra2_in1k', 'ra2_in1k', ('seresnet50', 'ra2_in1k')),
        ('timm', 'seresnet50', 'a1_in1k', ('seresnet50', 'a1_in1k')),
        ('mmpretrain', 'seresnet50', None, ('seresnet50', None)),
        ('mmpretrain', 'seresnet50_8xb32_in1k', None, ('seresnet50', 'seresnet50_8xb32_in1k')),
        (
            'mmpretrain',
            'seresnext50-32x4d_8xb32_in1k',
            None,
            ('seresnext50_32x4d', 'seresnext50-32x4d_8xb32_in1k'),
        ),
    ],
)
def test_split_weights_name(source, name, tag, expected):
    assert split_weights_name(source, name, tag) == expected


def test_split_weights_name_errors():
    with pytest.raises(
        ConversionError, match="--tag 'a1_in1k' contradicts --arch 'seresnet50.ra2_in1k'"
    ):
        split_weights_name('timm', 'seresnet50.ra2_in1k', 'a1_in1k')
    with pytest.raises(ConversionError, match="unknown --arch 'resnet50' for --from timm"):
        split_weights_name('timm', 'resnet50.a1_in1k')
