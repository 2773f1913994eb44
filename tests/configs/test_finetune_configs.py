"""configs/finetune/: the folder recipe preprocesses as the weights it starts from."""

from pathlib import Path

import pytest
from mmengine.config import Config

from se_plugin.convert import get_arch
from se_plugin.convert.meta import source_preprocessing

FOLDER = Path(__file__).resolve().parents[2] / 'configs/finetune/se_resnet50_converted_folder.py'


def test_folder_recipe_uses_the_ra2_in1k_preprocessing():
    pytest.importorskip('timm')
    cfg = Config.fromfile(FOLDER)
    source = source_preprocessing(get_arch('timm', 'seresnet50'), 'ra2_in1k', num_classes=2)
    # the same resize and crop (the loading step may honour EXIF rotation when fine-tuning)
    assert cfg.test_dataloader.dataset.pipeline[1:] == source['test_pipeline'][1:]
    for key in ('mean', 'std', 'to_rgb', 'num_classes'):
        assert cfg.data_preprocessor[key] == source['data_preprocessor'][key]
    assert cfg.model.head.num_classes == 2 and cfg.train_dataloader.dataset.type == 'CustomDataset'
