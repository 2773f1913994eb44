"""docs/mmdet_mmseg.md shows only tested code: every python block is either a shipped
config file, verbatim (the integration tests build and train each one), or a named
snippet that the integration tests execute and use. Runs in both environments."""

import os

import pytest

from tests.conftest import REPO_ROOT

from .mm_helpers import configs, doc_blocks, doc_snippet

BLOCKS = doc_blocks()


def test_doc_has_blocks():
    assert len(BLOCKS) >= 8


@pytest.mark.parametrize('head,code', BLOCKS, ids=[h for h, _ in BLOCKS])
def test_every_python_block_is_a_config_file_or_a_snippet(head, code):
    if head.startswith('# snippet: '):
        doc_snippet(head[len('# snippet: ') :])  # executes
        return
    assert head.startswith('# configs/'), f'untested block in the doc: {head!r}'
    path = head[2:].split()[0]
    with open(os.path.join(REPO_ROOT, path), encoding='utf-8') as f:
        assert code == '# ' + path + '\n' + f.read(), f'the doc shows an old {path}'


@pytest.mark.parametrize('path', configs('mmdet') + configs('mmseg'))
def test_every_shipped_config_is_in_the_doc(path):
    assert any(head == f'# {path}' for head, _ in BLOCKS), f'{path} is not in the doc'


def test_mmpretrain_injection_snippet_is_se_resnet50():
    """SE after every bottleneck's bn3 of a plain ResNet-50 is SE-ResNet-50: same size."""
    from se_plugin.registry import MODELS

    model = MODELS.build(doc_snippet('mmpretrain-injected')['model'])
    assert sum(p.numel() for p in model.parameters()) == 28_088_024


def test_python_injection_snippet():
    names = doc_snippet('inject-python')['names']
    assert len(names) == 16 and names[0] == 'layer1.0.bn3'
