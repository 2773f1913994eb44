"""--tta on every shipped config: the TTA views run after the config's own test steps."""

from pathlib import Path

import pytest
from mmengine.config import Config

from se_plugin.evaluation import use_tta

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted(
    str(p.relative_to(ROOT))
    for p in (ROOT / 'configs').rglob('*.py')
    if '_base_' not in p.parts and p.parts[-2] not in ('mmdet', 'mmseg')
)


@pytest.mark.parametrize('name', CONFIGS)
def test_tta_pipeline_follows_the_test_pipeline(name):
    """The steps before TestTimeAug are the test pipeline's steps before PackInputs (a
    tta_pipeline built from an older test_pipeline would test other images)."""
    cfg = Config.fromfile(ROOT / name)
    test_pipeline = list(cfg.test_dataloader.dataset.pipeline)
    use_tta(cfg)
    tta_pipeline = list(cfg.test_dataloader.dataset.pipeline)
    assert tta_pipeline[:-1] == test_pipeline[:-1]
    assert tta_pipeline[-1]['type'] == 'TestTimeAug'
    assert cfg.model['type'] == 'AverageClsScoreTTA'
