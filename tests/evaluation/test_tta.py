"""se_plugin.evaluation.tta: test-time augmentation as mmpretrain's --tta."""

import copy

import pytest
import torch
from helpers import QUICKSTART
from mmengine.config import Config
from mmengine.dataset import Compose, pseudo_collate
from mmengine.registry import DefaultScope

from se_plugin.datasets import MNIST5k
from se_plugin.evaluation import flip_tta_pipeline, use_tta
from se_plugin.models.builder import build_config_model
from se_plugin.runtime.errors import ConfigError


def predict(model, pipeline, samples):
    with DefaultScope.overwrite_default_scope('se_plugin'), torch.no_grad():
        pipeline = Compose(pipeline)
        return model.test_step(pseudo_collate([pipeline(copy.deepcopy(s)) for s in samples]))


@pytest.fixture(scope='module')
def digits():
    dataset = MNIST5k(split='test', indices=4)
    return [dataset.get_data_info(i) for i in range(4)]


def test_identity_tta_equals_plain_test(digits):
    """One view (the image as it is): the same scores as without TTA (the wrapped model
    normalises as the plain one; the merged label is the mean score's arg-max)."""
    cfg = Config.fromfile(QUICKSTART)
    plain = build_config_model(cfg).eval()
    expected = predict(plain, cfg.test_dataloader.dataset.pipeline, digits)
    identity = dict(type='RandomFlip', prob=0.0)
    cfg.tta_pipeline = [
        dict(type='TestTimeAug', transforms=[[identity], [dict(type='PackInputs')]])
    ]
    use_tta(cfg)
    wrapped = build_config_model(cfg).eval()
    wrapped.module.load_state_dict(plain.state_dict())
    with torch.no_grad():
        views = predict(wrapped.module, [identity, dict(type='PackInputs')], digits)
    merged = wrapped.merge_preds([[v] for v in views])
    for got, want in zip(merged, expected):
        assert torch.allclose(got.pred_score, want.pred_score, atol=1e-6)
        assert got.pred_label == want.pred_score.argmax()


def test_default_is_flip_and_the_configs_views_are_used():
    cfg = Config.fromfile('configs/se_densenet121_custom_folder.py')  # no tta_pipeline
    pipeline = list(cfg.test_dataloader.dataset.pipeline)
    use_tta(cfg)
    assert cfg.test_dataloader.dataset.pipeline == flip_tta_pipeline(pipeline)
    assert (
        cfg.model['type'] == 'AverageClsScoreTTA'
        and cfg.model['module']['type'] == 'ImageClassifier'
    )
    quickstart = Config.fromfile(QUICKSTART)
    use_tta(quickstart)
    views = quickstart.test_dataloader.dataset.pipeline[0]['transforms'][0]
    assert [v['type'] for v in views] == ['RandomFlip'] + ['Translate'] * 4


@pytest.mark.parametrize(
    'key, value, message',
    [
        ('tta_pipeline', [dict(type='PackInputs')], 'tta_pipeline must end with a TestTimeAug'),
        ('test_dataloader', None, 'no test_dataloader.dataset.pipeline'),
    ],
)
def test_bad_configs(key, value, message):
    cfg = Config.fromfile(QUICKSTART)
    cfg[key] = value
    with pytest.raises(ConfigError, match=message):
        use_tta(cfg)


def test_a_stale_copy_of_the_test_pipeline_is_refused():
    cfg = Config.fromfile('configs/se_resnet50_imagenet.py')
    cfg.test_dataloader.dataset.pipeline[1]['scale'] = 288  # --cfg-options on the loader only
    with pytest.raises(
        ConfigError, match="step 1 of tta_pipeline is .*'scale': 256.* runs .*'scale': 288"
    ):
        use_tta(cfg)
