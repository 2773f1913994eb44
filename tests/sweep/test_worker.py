"""se_plugin.sweep.worker: a run refuses a config edited since the sweep was planned."""

import os
import os.path as osp

import pytest
from helpers import QUICKSTART

from se_plugin.runtime.atomic import atomic_write_text
from se_plugin.sweep import SweepError, plan_sweep, run_point
from se_plugin.sweep.records import json_text


def test_edited_config_is_noticed(tmp_path):
    config = tmp_path / 'cfg.py'
    config.write_text(f'_base_ = [{QUICKSTART!r}]\nrandomness = dict(seed=0)\n')
    sweep = ['model.backbone.attn_cfg.ratio=4']
    run = plan_sweep(str(config), sweep, work_dir=str(tmp_path / 'w')).runs[0]
    os.makedirs(run.work_dir)
    atomic_write_text(json_text(run.spec), osp.join(run.work_dir, 'point.json'))
    config.write_text(f'_base_ = [{QUICKSTART!r}]\nrandomness = dict(seed=1)\n')
    # the run refuses before training, and a new plan refuses the dir
    with pytest.raises(ValueError, match='changed since this sweep was planned'):
        run_point(run.work_dir)
    with pytest.raises(SweepError, match=r'other settings \(different config contents\)'):
        plan_sweep(str(config), sweep, work_dir=str(tmp_path / 'w'))


def test_missing_point_file(tmp_path):
    with pytest.raises(FileNotFoundError, match='no readable point.json'):
        run_point(str(tmp_path))
