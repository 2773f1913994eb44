"""se_plugin.apis.inference: predictions from image files, equal to the source model's."""

import numpy as np
import pytest
import torch
from helpers import QUICKSTART, digit_files
from mmengine.config import Config
from mmengine.dataset import Compose, pseudo_collate
from mmengine.registry import DefaultScope
from PIL import Image

from se_plugin.analysis.complexity import input_channels
from se_plugin.apis import inference_model, inference_pipeline, init_model
from se_plugin.runtime.errors import ConfigError
from se_plugin.runtime.weights import WeightsMismatchError


def test_same_predictions_as_timm(timm_converted, image_files):
    """A converted timm checkpoint, its config and preprocessing from its meta, gives
    timm's top-5 and probabilities on the same image files (timm's own transform)."""
    peer, transform, converted = timm_converted
    model = init_model(converted)
    results = inference_model(model, image_files, topk=5, batch_size=2)
    assert [r['image'] for r in results] == image_files
    for path, result in zip(image_files, results):
        with torch.no_grad():
            expected = peer(transform(Image.open(path).convert('RGB'))[None]).softmax(-1)[0]
        top = expected.topk(6)
        assert (top.values[:-1] - top.values[1:]).min() > 1e-4, 'near-tie: pick another seed'
        assert [t['label'] for t in result['topk']] == top.indices[:5].tolist(), path
        assert np.abs(result['pred_scores'] - expected.numpy()).max() < 1e-5, path
        assert result['pred_label'] == top.indices[0] and result['pred_score'] > 0.05
        assert result['pred_class'] == model.dataset_meta['classes'][result['pred_label']]


def test_grayscale_model_on_image_files(quickstart_checkpoint, tmp_path):
    """The quick-start model (1 channel, config from the checkpoint, data from memory in
    training) on digit PNGs: the same scores as on the dataset's own arrays."""
    paths, samples = digit_files(tmp_path)
    model = init_model(quickstart_checkpoint)
    assert input_channels(model.cfg) == 1
    results = inference_model(model, paths, topk=3)
    with DefaultScope.overwrite_default_scope('se_plugin'), torch.no_grad():
        pipeline = Compose(model.cfg.test_dataloader.dataset.pipeline)
        expected = model.test_step(pseudo_collate([pipeline(dict(s)) for s in samples]))
    for result, sample in zip(results, expected):
        np.testing.assert_allclose(result['pred_scores'], sample.pred_score.numpy(), atol=1e-6)
        assert result['pred_class'] == str(result['pred_label']) and len(result['topk']) == 3
    # arrays, as the pipeline's loading step gives them: the same again
    arrays = [np.array(Image.open(p))[..., None] for p in paths]
    again = inference_model(model, arrays, topk=3)
    assert all(r['image'] is None for r in again)
    np.testing.assert_array_equal(
        [r['pred_scores'] for r in again], [r['pred_scores'] for r in results]
    )


def test_inference_pipeline_loads_the_models_channels():
    quickstart = Config.fromfile(QUICKSTART)
    assert inference_pipeline(quickstart) == [
        dict(type='LoadImageFromFile', color_type='grayscale'),
        dict(type='PackInputs'),
    ]
    imagenet = Config.fromfile('configs/se_resnet50_imagenet.py')
    assert inference_pipeline(imagenet) == list(imagenet.test_dataloader.dataset.pipeline)
    grey = Config.fromfile('configs/se_resnet50_imagenet.py')
    grey.data_preprocessor.update(mean=[127.5], std=[64.0])
    assert inference_pipeline(grey)[0] == dict(type='LoadImageFromFile', color_type='grayscale')
    grey.test_dataloader = None
    assert inference_pipeline(grey)[1:] == list(grey.test_pipeline)[1:]
    grey.test_pipeline = None
    with pytest.raises(ConfigError, match='has no test pipeline'):
        inference_pipeline(grey)


def test_topk_beyond_the_classes(quickstart_checkpoint, tmp_path):
    paths, _ = digit_files(tmp_path, 1)
    (result,) = inference_model(init_model(quickstart_checkpoint), paths, topk=50)
    assert len(result['topk']) == 10 and abs(result['pred_scores'].sum() - 1) < 1e-5


@pytest.mark.parametrize(
    'kwargs, error, message',
    [
        (dict(device='tpu'), ValueError, "device must be 'cpu', 'cuda' or 'cuda:N'; got 'tpu'"),
        (dict(device='cuda:99'), ValueError, "device 'cuda:99': this machine has"),
        (
            dict(config=QUICKSTART.replace('se_resnet18', 'sknet')),
            WeightsMismatchError,
            'does not fit',
        ),
    ],
)
def test_init_model_errors(quickstart_checkpoint, kwargs, error, message):
    config = kwargs.pop('config', quickstart_checkpoint)
    with pytest.raises(error, match=None) as info:
        init_model(config, quickstart_checkpoint, **kwargs)
    assert message in str(info.value)


def test_config_without_weights():
    model = init_model(QUICKSTART)
    assert model.dataset_meta == {} and not model.training
    with pytest.raises(ValueError, match='topk must be an int >= 1, got 0'):
        inference_model(model, [np.zeros((28, 28, 1), np.uint8)], topk=0)
