"""Your own data: configs/se_densenet121_custom_folder.py trains through tools/train.py on
a generated class-per-folder dataset in data/custom (train/ and val/), no download."""

import os
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.slow

CONFIG = os.path.join(REPO_ROOT, 'configs', 'se_densenet121_custom_folder.py')
SHRINK = [
    'model.backbone.init_cfg=None',  # no download in tests
    'train_dataloader.batch_size=4',
    'train_dataloader.num_workers=0',
    'train_dataloader.dataset.pipeline.1.scale=32',
    'val_dataloader.batch_size=4',
    'val_dataloader.num_workers=0',
    'val_dataloader.dataset.pipeline.1.scale=36',
    'val_dataloader.dataset.pipeline.2.crop_size=32',
    'train_cfg.max_epochs=1',
    'default_hooks.logger.interval=1',
    'env_cfg.torch_num_threads=1',
]


def make_folder_dataset(root, per_class):
    """Two classes told apart by colour: reddish and bluish 40x40 PNGs."""
    rng = np.random.default_rng(0)
    for split, count in per_class.items():
        for name, channel in (('cat', 0), ('dog', 2)):
            folder = root / 'data' / 'custom' / split / name
            folder.mkdir(parents=True)
            for i in range(count):
                pixels = rng.integers(0, 80, (40, 40, 3), dtype=np.uint8)
                pixels[..., channel] += 150
                Image.fromarray(pixels).save(folder / f'{i}.png')


def test_custom_folder_config_trains_through_the_tool(tmp_path):
    make_folder_dataset(tmp_path, {'train': 4, 'val': 2})  # 8 train images: 2 iterations
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONUNBUFFERED='1')
    run = subprocess.run(
        [sys.executable, os.path.join(REPO_ROOT, 'tools', 'train.py'), CONFIG]
        + ['--work-dir', str(tmp_path / 'work'), '--cfg-options', *SHRINK],
        cwd=tmp_path,  # the config's relative data_root 'data/custom' is used as it is
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    log = run.stdout + run.stderr
    assert run.returncode == 0, log[-3000:]
    assert re.search(r'Epoch\(train\)\s+\[1\]\[2/2\]', log), log[-3000:]
    assert re.search(r'Epoch\(val\) \[1\]\[1/1\]\s+accuracy/top1: \d', log), log[-3000:]
    assert os.path.isfile(tmp_path / 'work' / 'epoch_1.pth')
