"""se_plugin.convert.preprocess: the source's evaluation preprocessing as mmpretrain transforms.

The pipelines are run on real image files (JPEG, PNG in RGB, grey, alpha and palette
modes, odd sizes) and compared with timm's own eval transform: the uint8 crops must be
identical, the normalised tensors equal up to float rounding.
"""

import numpy as np
import pytest
from images import write_images
from mmengine.dataset import Compose
from mmengine.registry import DefaultScope
from PIL import Image

from se_plugin.convert import ConversionError
from se_plugin.convert.preprocess import (
    mmpretrain_eval_pipeline,
    timm_data_config,
    timm_eval_pipeline,
)
from se_plugin.registry import MODELS

timm = pytest.importorskip('timm')
from timm.data import create_transform  # noqa: E402

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


@pytest.fixture(scope='module')
def image_files(tmp_path_factory):
    return write_images(tmp_path_factory.mktemp('images'))


def data_cfg(size=224, crop_pct=0.875, interpolation='bicubic', crop_mode='center'):
    return dict(
        input_size=(3, size, size),
        interpolation=interpolation,
        crop_pct=crop_pct,
        crop_mode=crop_mode,
        mean=MEAN,
        std=STD,
    )


def run_pipeline(pipeline, path):
    with DefaultScope.overwrite_default_scope('se_plugin'):
        return Compose(pipeline)(dict(img_path=path))


def timm_crop(cfg, path) -> np.ndarray:
    """timm's eval transform up to the crop (before ToTensor/Normalize), as RGB uint8."""
    transform = create_transform(**cfg)
    img = Image.open(path).convert('RGB')
    for step in transform.transforms[:-2]:
        img = step(img)
    return np.asarray(img)


@pytest.mark.parametrize(
    'cfg',
    [
        data_cfg(),  # seresnet50.ra2_in1k
        data_cfg(224, 0.95),  # the a1/a2 tags
        data_cfg(160, 0.95),  # a3
        data_cfg(288, 1.0),  # test sizes
        data_cfg(224, 0.875, 'bilinear'),  # legacy / gluon tags
        data_cfg(40, 0.9, 'bicubic', 'squash'),
        data_cfg(37, 0.8, 'bilinear', 'squash'),
    ],
    ids=lambda c: f'{c["input_size"][-1]}-{c["crop_pct"]}-{c["interpolation"]}-{c["crop_mode"]}',
)
def test_same_pixels_as_timm(image_files, cfg):
    pipeline, preprocessor = timm_eval_pipeline(cfg, num_classes=1000)
    normalise = MODELS.build(preprocessor)
    for path in image_files:
        inputs = run_pipeline(pipeline, path)['inputs']  # uint8 C x H x W, BGR
        crop = inputs.flip(0).permute(1, 2, 0).numpy()  # the preprocessor makes it RGB
        np.testing.assert_array_equal(crop, timm_crop(cfg, path), err_msg=path)
        tensor = normalise(dict(inputs=[inputs]))['inputs'][0]
        reference = create_transform(**cfg)(Image.open(path).convert('RGB'))
        assert (tensor - reference).abs().max() < 1e-5, path


def test_pipeline_and_preprocessor():
    pipeline, preprocessor = timm_eval_pipeline(data_cfg(224, 0.95), num_classes=10)
    assert pipeline == [
        dict(
            type='LoadImageFromFile',
            imdecode_backend='pillow',
            color_type='color_ignore_orientation',
        ),
        dict(type='ResizeEdge', scale=235, edge='short', backend='pillow', interpolation='bicubic'),
        dict(type='CenterCrop', crop_size=224),
        dict(type='PackInputs'),
    ]
    assert preprocessor == dict(
        type='ClsDataPreprocessor',
        num_classes=10,
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True,
    )


@pytest.mark.parametrize(
    'change, message',
    [
        (dict(crop_mode='border'), "crop_mode must be one of center, squash; got 'border'"),
        (dict(crop_pct=1.15), 'crop_pct must be in (0, 1], got 1.15'),
        (dict(interpolation='random'), 'interpolation must be one of'),
        (dict(input_size=(3, 224, 160)), 'a non-square crop (224x160)'),
        (dict(input_size=(224, 224)), 'input_size must be (C, H, W)'),
        (dict(mean=(0.5,)), 'mean must have 3 values'),
    ],
)
def test_refused(change, message):
    with pytest.raises(ConversionError, match=None) as info:
        timm_eval_pipeline(dict(data_cfg(), **change), num_classes=1000)
    assert message in str(info.value)


def test_timm_data_config_of_tags():
    cfg, weights, subset = timm_data_config('seresnet50', 'ra2_in1k')
    assert weights == 'seresnet50.ra2_in1k' and subset == 'imagenet-1k'
    assert (cfg['input_size'], cfg['crop_pct'], cfg['interpolation']) == (
        (3, 224, 224),
        0.875,
        'bicubic',
    )
    cfg, _, _ = timm_data_config('seresnet50', 'ra2_in1k', use_test_size=True)
    assert (cfg['input_size'], cfg['crop_pct']) == ((3, 288, 288), 0.95)
    # no tag: what timm.create_model(arch, pretrained=True) would load
    default = timm.models.get_pretrained_cfg('seresnet50')
    assert timm_data_config('seresnet50')[1] == f'seresnet50.{default.tag}'
    # an arch without public weights: its default (untrained) config
    assert timm_data_config('seresnet18')[1] == 'seresnet18.untrained'


def test_timm_data_config_errors():
    with pytest.raises(
        ConversionError,
        match=r"unknown --tag 'ra9_in1k' for timm seresnet50; "
        r'public tags: a1_in1k, a2_in1k, a3_in1k, ra2_in1k',
    ):
        timm_data_config('seresnet50', 'ra9_in1k')
    with pytest.raises(ConversionError, match="timm has no model named 'seresnet5'"):
        timm_data_config('seresnet5')


def test_mmpretrain_pipelines():
    pipeline, preprocessor, path, dataset = mmpretrain_eval_pipeline('seresnet50_8xb32_in1k')
    assert path.endswith('configs/seresnet/seresnet50_8xb32_in1k.py') and dataset == 'ImageNet'
    assert pipeline[1] == dict(type='ResizeEdge', scale=256, edge='short', backend='pillow')
    assert preprocessor['mean'] == [123.675, 116.28, 103.53] and preprocessor['to_rgb']
    base, _, base_path, _ = mmpretrain_eval_pipeline(None)
    assert base_path.endswith('_base_/datasets/imagenet_bs32_pil_resize.py') and base == pipeline
    with pytest.raises(ConversionError, match="mmpretrain has no model 'resnet0'"):
        mmpretrain_eval_pipeline('resnet0')
