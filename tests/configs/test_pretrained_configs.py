"""configs/pretrained/: one config per convertible arch, its model the converter's and its
test pipeline the source's evaluation transform."""

import math
from pathlib import Path

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.dataset import Compose
from mmpretrain.registry import TRANSFORMS
from PIL import Image

import se_plugin  # noqa: F401  (registers the se_plugin modules)
from se_plugin.convert import ARCHS, list_archs
from se_plugin.convert.preprocess import (
    mmpretrain_eval_pipeline,
    timm_data_config,
    timm_eval_pipeline,
)
from se_plugin.convert.tags import mmpretrain_tags

PRETRAINED = Path(__file__).resolve().parents[2] / 'configs' / 'pretrained'
EVERY = [name.split(':') for name in list_archs()]


def config(source, arch):
    return Config.fromfile(PRETRAINED / source / f'{arch}.py')


def test_one_config_per_arch():
    files = {
        (p.parent.name, p.stem) for p in PRETRAINED.glob('*/*.py') if p.parent.name != '_base_'
    }
    assert files == {tuple(a) for a in EVERY}


@pytest.mark.parametrize('source, arch', EVERY, ids=':'.join)
def test_model_is_the_converters(source, arch):
    """What the converted weights load into (meta['model']) is the config's model."""
    cfg = config(source, arch)
    assert cfg.model.to_dict() == ARCHS[source][arch].model_config()
    assert cfg.default_scope == 'se_plugin'
    assert cfg.val_dataloader.dataset.pipeline == cfg.test_dataloader.dataset.pipeline


def _resize_and_crop(cfg):
    resize, crop = cfg.test_dataloader.dataset.pipeline[1:3]
    assert resize['type'] == 'ResizeEdge' and resize['edge'] == 'short'
    assert resize['backend'] == 'pillow' and crop['type'] == 'CenterCrop'
    return resize['scale'], crop['crop_size'], resize.get('interpolation', 'bilinear')


PREPROCESSOR_KEYS = ('mean', 'std', 'to_rgb')


@pytest.mark.parametrize('arch', list(ARCHS['timm']))
def test_timm_test_pipeline_is_the_default_tags(arch):
    """The pipeline a checkpoint converted with the arch's default tag carries in its
    meta['cfg'] (se_plugin.convert.preprocess: timm's eval transform of that tag)."""
    timm = pytest.importorskip('timm')
    data_cfg, _, _ = timm_data_config(arch)
    pipeline, preprocessor = timm_eval_pipeline(data_cfg, num_classes=1000)
    cfg = config('timm', arch)
    assert cfg.test_dataloader.dataset.pipeline == pipeline
    assert {k: cfg.data_preprocessor[k] for k in PREPROCESSOR_KEYS} == {
        k: preprocessor[k] for k in PREPROCESSOR_KEYS
    }
    # and timm's rule itself: shorter side to floor(size / crop_pct), centre crop
    tag = timm.models.get_pretrained_cfg(arch)
    size = tag.input_size[-1]
    assert _resize_and_crop(cfg) == (math.floor(size / tag.crop_pct), size, tag.interpolation)


@pytest.mark.parametrize('arch', list(ARCHS['mmpretrain']))
def test_mmpretrain_test_pipeline_is_its_own(arch):
    """mmpretrain's own test pipeline: its model's config where it has weights, else its
    ImageNet evaluation pipeline (what a converted checkpoint carries)."""
    tags = mmpretrain_tags(arch)
    pipeline, preprocessor, _, _ = mmpretrain_eval_pipeline(tags[0] if tags else None)
    cfg = config('mmpretrain', arch)
    assert cfg.test_dataloader.dataset.pipeline == pipeline
    assert {k: cfg.data_preprocessor[k] for k in PREPROCESSOR_KEYS} == {
        k: preprocessor[k] for k in PREPROCESSOR_KEYS
    }


@pytest.mark.parametrize('arch', ['seresnextaa101d_32x8d', 'legacy_seresnet50', 'resnetrs50'])
def test_test_pipeline_runs_on_an_image_file(arch, tmp_path):
    path = tmp_path / 'image.jpg'
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)).save(path)
    cfg = config('timm', arch)
    _, size, _ = _resize_and_crop(cfg)
    pipeline = Compose([TRANSFORMS.build(t) for t in cfg.test_dataloader.dataset.pipeline])
    packed = pipeline(dict(img_path=str(path)))
    assert tuple(packed['inputs'].shape) == (3, size, size)
