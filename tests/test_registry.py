import pytest
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import Registry
from mmpretrain.registry import DATASETS as MMPRETRAIN_DATASETS
from mmpretrain.registry import MODELS as MMPRETRAIN_MODELS

from se_plugin import registry
from se_plugin.datasets import MNIST5k
from se_plugin.models import SEBottleneck, SELayer, SEResNet, SEResNeXt


def test_child_of_mmpretrain():
    assert registry.MODELS.scope == 'se_plugin'
    assert registry.MODELS.parent is MMPRETRAIN_MODELS
    assert MMPRETRAIN_MODELS._children['se_plugin'] is registry.MODELS
    assert registry.DATASETS.parent is MMPRETRAIN_DATASETS


@pytest.mark.parametrize(
    'name, cls',
    [
        ('se_plugin.SELayer', SELayer),
        ('se_plugin.SEResNet', SEResNet),
        ('se_plugin.SEResNeXt', SEResNeXt),
        ('se_plugin.SEBottleneck', SEBottleneck),
    ],
)
def test_resolves_from_mmpretrain_scope(name, cls):
    assert MMPRETRAIN_MODELS.get(name) is cls


def test_our_names_shadow_mmpretrain_only_in_our_scope():
    from mmpretrain.models import SEResNet as MMPretrainSEResNet

    assert MMPRETRAIN_MODELS.get('SEResNet') is MMPretrainSEResNet
    assert registry.MODELS.get('SEResNet') is SEResNet
    # mmpretrain's own modules resolve through the parent chain
    assert registry.MODELS.get('ImageClassifier') is MMPRETRAIN_MODELS.get('ImageClassifier')


def test_resolves_from_a_sibling_codebase_scope():
    """Like mmdet/mmseg: a registry whose scope is outside mmpretrain's tree."""
    sibling = Registry('model', parent=MMENGINE_MODELS, scope='se_plugin_test_sibling')
    layer = sibling.build(dict(type='se_plugin.SELayer', in_channels=32, ratio=4))
    assert isinstance(layer, SELayer)
    assert sibling.get('se_plugin.SEResNet') is SEResNet


def test_dataset_registered():
    assert MMPRETRAIN_DATASETS.get('se_plugin.MNIST5k') is MNIST5k


def test_default_scope_finds_parent_modules_lazily():
    """Hooks and metrics of mmpretrain resolve from the se_plugin scope."""
    assert registry.HOOKS.get('VisualizationHook') is not None
    assert registry.METRICS.get('Accuracy') is not None
    assert registry.TRANSFORMS.get('PackInputs') is not None


def test_attention_layers_are_registered_slot_modules():
    import torch

    import se_plugin
    from se_plugin.models.layers import ATTENTION_LAYERS

    assert 'SELayer' in ATTENTION_LAYERS and len(set(ATTENTION_LAYERS)) == len(ATTENTION_LAYERS)
    for name in ATTENTION_LAYERS:
        layer = registry.MODELS.build(dict(type=f'se_plugin.{name}', in_channels=16))
        assert type(layer).__name__ == name and hasattr(se_plugin, name)
        assert layer(torch.randn(2, 16, 8, 8)).shape == (2, 16, 8, 8)  # the slot's contract


FRESH = """
import json, sys
from mmengine.registry import MODELS, Registry
{first}
from mmpretrain.registry import MODELS as MMPRETRAIN_MODELS
from mmengine.config import Config
from mmengine.registry import init_default_scope

out = {{}}
if {custom_imports}:
    from mmengine.utils import import_modules_from_strings
    cfg = Config(dict(custom_imports=dict(imports=['se_plugin'], allow_failed_imports=False)))
    import_modules_from_strings(**cfg.custom_imports)
out['mmpretrain_scope'] = MMPRETRAIN_MODELS.get('se_plugin.SEResNet').__module__
sibling = Registry('model', parent=MODELS, scope='se_plugin_fresh_sibling')
out['sibling'] = type(sibling.build(dict(type='se_plugin.SELayer', in_channels=8))).__name__
init_default_scope('se_plugin')
from se_plugin import registry
out['hook'] = registry.HOOKS.get('AtomicCheckpointHook').__name__
out['pretrained'] = registry.WEIGHT_INITIALIZERS.get('Pretrained').__name__
out['loop'] = registry.LOOPS.get('ResumableEpochBasedTrainLoop').__name__
out['dataset'] = registry.DATASETS.get('MNIST5k').__name__
print(json.dumps(out))
"""


@pytest.mark.parametrize(
    'first, custom_imports',
    [('', False), ('import se_plugin', False), ('', True)],
    ids=['not-imported', 'import-se_plugin', 'custom_imports'],
)
def test_lazy_package_resolves_in_a_fresh_interpreter(first, custom_imports):
    """Nothing of se_plugin imported beforehand (or only the light package, or
    through ``custom_imports``): every way of naming its classes still finds them."""
    import json
    import os
    import subprocess
    import sys

    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=repo + os.pathsep + os.environ.get('PYTHONPATH', ''))
    code = FRESH.format(first=first, custom_imports=custom_imports)
    proc = subprocess.run(
        [sys.executable, '-c', code], capture_output=True, text=True, env=env, cwd=repo
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.splitlines()[-1]) == {
        'mmpretrain_scope': 'se_plugin.models.backbones.se_resnet',
        'sibling': 'SELayer',
        'hook': 'AtomicCheckpointHook',
        'pretrained': 'CheckedPretrainedInit',
        'loop': 'ResumableEpochBasedTrainLoop',
        'dataset': 'MNIST5k',
    }
