"""se_plugin.sweep.schedule: cutting an epoch-based schedule to --max-epochs."""

import pytest
from helpers import QUICKSTART
from mmengine.config import Config

from se_plugin.sweep import SweepError, shorten_schedule


def test_shorten_schedule():
    schedule = [
        dict(type='LinearLR', by_epoch=True, begin=0, end=1, convert_to_iter_based=True),
        dict(type='CosineAnnealingLR', by_epoch=True, begin=1, end=5, eta_min=0.0),
        dict(type='ConstantLR', by_epoch=False, begin=0, end=50),
    ]
    cfg = Config(dict(param_scheduler=schedule, train_cfg=dict(by_epoch=True, max_epochs=5)))
    options = shorten_schedule(cfg, 2)
    assert options['train_cfg.max_epochs'] == 2
    assert [(s['type'], s['begin'], s['end']) for s in options['param_scheduler']] == [
        ('LinearLR', 0, 1),
        ('CosineAnnealingLR', 1, 2),  # still anneals to the (new) end
        ('ConstantLR', 0, 50),  # iteration-based: untouched
    ]
    assert [s['type'] for s in shorten_schedule(cfg, 1)['param_scheduler']] == [
        'LinearLR',
        'ConstantLR',
    ]
    assert shorten_schedule(cfg, 8) == {'train_cfg.max_epochs': 8}
    cfg.param_scheduler = dict(type='CosineAnnealingLR', begin=0, end=5, T_max=5)
    assert shorten_schedule(cfg, 3)['param_scheduler'] == [
        dict(type='CosineAnnealingLR', begin=0, end=3, T_max=3)
    ]
    cfg.param_scheduler = dict(type='MultiStepLR', by_epoch=True, milestones=[2, 4])
    assert 'param_scheduler' not in shorten_schedule(cfg, 3)  # no end: untouched
    quickstart = Config.fromfile(QUICKSTART)
    assert shorten_schedule(quickstart, 1)['train_cfg.max_epochs'] == 1
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=100)
    with pytest.raises(SweepError, match='trains by iterations'):
        shorten_schedule(cfg, 2)
    with pytest.raises(SweepError, match='int >= 1'):
        shorten_schedule(cfg, 0)
