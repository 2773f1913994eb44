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


@pytest.mark.parametrize('arch', list(ARCHS['timm']))
def test_timm_test_pipeline_is_the_default_tags(arch):
    """timm's eval transform of the arch's default tag: shorter side to
    floor(size / crop_pct), centre crop, the tag's interpolation; ImageNet mean/std."""
    timm = pytest.importorskip('timm')
    tag = timm.models.get_pretrained_cfg(arch)
    cfg = config('timm', arch)
    size = tag.input_size[-1]
    assert tag.crop_mode == 'center' and tag.input_size[1] == size
    assert _resize_and_crop(cfg) == (math.floor(size / tag.crop_pct), size, tag.interpolation)
    load = cfg.test_dataloader.dataset.pipeline[0]
    assert load['imdecode_backend'] == 'pillow'  # as timm's PIL.Image.open(...).convert('RGB')
    expected = [round(255 * v, 6) for v in tag.mean], [round(255 * v, 6) for v in tag.std]
    assert (cfg.data_preprocessor['mean'], cfg.data_preprocessor['std']) == expected


def test_mmpretrain_test_pipeline_is_its_own():
    import mmpretrain

    root = Path(mmpretrain.__file__).parent / '.mim' / 'configs'
    theirs = Config.fromfile(root / 'seresnet' / 'seresnet50_8xb32_in1k.py')
    for arch in ARCHS['mmpretrain']:
        cfg = config('mmpretrain', arch)
        assert cfg.test_dataloader.dataset.pipeline == theirs.test_dataloader.dataset.pipeline
        assert cfg.data_preprocessor == theirs.data_preprocessor


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
