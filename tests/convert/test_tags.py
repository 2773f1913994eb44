"""se_plugin.convert.tags: the public weights each arch fits, read from timm and mmpretrain."""

import pytest

from se_plugin.convert import ARCHS
from se_plugin.convert.tags import mmpretrain_tags, timm_tags, weight_tags, weights_table

timm = pytest.importorskip('timm')


@pytest.mark.parametrize('arch', list(ARCHS['timm']))
def test_timm_tags_are_timms_pretrained_names_with_weights(arch):
    tags = timm_tags(arch)
    assert [f'{arch}.{t}' for t in tags] == timm.list_pretrained(f'{arch}.*')
    for tag in tags:
        assert timm.models.get_pretrained_cfg(f'{arch}.{tag}').has_weights


def test_known_tags():
    assert timm_tags('seresnet50') == ['a1_in1k', 'a2_in1k', 'a3_in1k', 'ra2_in1k']
    assert timm_tags('seresnet18') == []
    assert weight_tags('timm', 'skresnet18') == ['ra_in1k']
    # mmpretrain's model index: SE-ResNet-50 and -101 have weights, nothing else
    assert mmpretrain_tags('seresnet50') == ['seresnet50_8xb32_in1k']
    assert {
        a: weight_tags('mmpretrain', a) for a in ARCHS['mmpretrain'] if weight_tags('mmpretrain', a)
    } == {
        'seresnet50': ['seresnet50_8xb32_in1k'],
        'seresnet101': ['seresnet101_8xb32_in1k'],
    }


def test_weights_table_lists_every_arch():
    rows = weights_table()
    assert [(s, a) for s, a, _, _ in rows] == [(s, a) for s in ARCHS for a in ARCHS[s]]
    assert (
        'timm',
        'seresnet50',
        "timm.create_model('seresnet50')",
        timm_tags('seresnet50'),
    ) in rows
