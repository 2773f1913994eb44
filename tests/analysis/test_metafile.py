"""se_plugin.analysis.metafile and ``tools/analysis/complexity.py --metafile``."""

import os.path as osp
import re
from functools import partial

import pytest
import yaml
from helpers import run_script

from se_plugin.analysis.complexity import Complexity
from se_plugin.analysis.metafile import (
    FAMILIES,
    config_name,
    metafile,
    metafile_texts,
    model_index,
)

from .conftest import ROOT

TOOL = osp.join(ROOT, 'tools', 'analysis', 'complexity.py')


def fake_measure(config):
    return Complexity(config, 'm', (3, 8, 8), params=1234, flops=5678)


@pytest.mark.slow
def test_committed_files_equal_what_the_tool_computes_now():
    """Every committed metafile (and model-index.yml) is what --metafile writes today."""
    for relpath, text in metafile_texts(ROOT).items():
        with open(osp.join(ROOT, relpath)) as f:
            assert f.read() == text, (
                f'{relpath} is stale: python tools/analysis/complexity.py --metafile'
            )


def test_schema_and_every_config_listed():
    index = model_index()
    assert index == {'Import': [f'configs/{f}/metafile.yml' for f in FAMILIES]}
    names, configs = [], []
    for family in FAMILIES:
        content = yaml.safe_load(yaml.safe_dump(metafile(family, fake_measure)))
        collections = {c['Name']: c for c in content['Collections']}
        assert len(collections) == len(content['Collections'])
        for collection in collections.values():
            assert collection['Paper']['URL'].startswith(
                ('https://arxiv.org/abs/', 'https://proceedings.mlr.press/')
            )
        for model in content['Models']:
            assert model['In Collection'] in collections
            assert osp.isfile(osp.join(ROOT, model['Config']))
            assert model['Metadata']['Parameters'] == 1234 and model['Metadata']['FLOPs'] == 5678
            names.append(model['Name'])
            configs.append(model['Config'])
    assert len(names) == len(set(names))
    with open(osp.join(ROOT, 'docs', 'model_table.md')) as f:  # the configs of the model table
        assert sorted(configs) == sorted(re.findall(r'^\| `(configs/\S+\.py)` \|', f.read(), re.M))
    quickstart = metafile('quickstart', fake_measure)['Models'][0]
    with open(osp.join(ROOT, 'README.md')) as f:  # the quick-start result the README reports
        readme_top1 = re.search(r'`se_resnet18_mnist5k.py` \(SE\) \| \*\*([\d.]+)%', f.read())
    assert quickstart['Results'][0]['Metrics'] == {'Top 1 Accuracy': float(readme_top1[1])}
    with pytest.raises(ValueError, match='family must be one of se_resnet'):
        metafile('vit', fake_measure)


def test_golden_numbers_in_the_committed_files():
    with open(osp.join(ROOT, 'configs', 'se_resnet', 'metafile.yml')) as f:
        models = {m['Name']: m for m in yaml.safe_load(f)['Models']}
    assert models['se_resnet50_imagenet']['Metadata']['Parameters'] == 28_088_024
    with open(osp.join(ROOT, 'configs', 'pretrained', 'metafile.yml')) as f:
        models = {m['Name']: m for m in yaml.safe_load(f)['Models']}
    assert models['timm_seresnet50']['Config'] == 'configs/pretrained/timm/seresnet50.py'
    assert models['mmpretrain_seresnet50']['Metadata']['Parameters'] == 28_088_024
    assert models['timm_seresnextaa101d_32x8d']['Metadata']['Parameters'] == 93_588_280


def test_config_names():
    assert config_name('configs/se_resnet50_imagenet.py') == 'se_resnet50_imagenet'
    assert config_name('configs/pretrained/timm/seresnet50.py') == 'timm_seresnet50'
    assert config_name('configs/pretrained/mmpretrain/seresnet50.py') == 'mmpretrain_seresnet50'


run_tool = partial(run_script, TOOL)


def test_tool_metafile_option(monkeypatch, capsys, tmp_path):
    code, _, err = run_tool(monkeypatch, capsys, '--metafile', 'configs/se_resnet50_imagenet.py')
    assert code == 2 and err.startswith('error: give CONFIG ... or --metafile (alone)')
    code, _, err = run_tool(monkeypatch, capsys)
    assert code == 2 and 'give CONFIG ... or --metafile' in err
