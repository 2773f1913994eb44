"""Config keys that mean nothing, overrides that cannot work, values that make
training meaningless: each a ConfigError before anything runs."""

import pytest
from mmengine.config import Config

from se_plugin.runtime.config_checks import (
    check_copied_overrides,
    check_finite_values,
    check_section_keys,
    check_top_level_keys,
    did_you_mean,
)
from se_plugin.runtime.errors import ConfigError


def _cfg(**entries):
    base = dict(
        model=dict(type='X'),
        train_pipeline=[dict(type='RandomCrop', crop_size=28, padding=2)],
        env_cfg=dict(cudnn_benchmark=False, mp_cfg=dict(mp_start_method='fork')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9)),
        data_preprocessor=dict(mean=[33.3], std=[78.6]),
        auto_scale_lr=dict(base_batch_size=64),
    )
    base['train_dataloader'] = dict(dataset=dict(pipeline=base['train_pipeline']))
    base.update(entries)
    return Config(base)


def test_valid_config_passes():
    cfg = _cfg(pipeline=[dict(type='PackInputs')], bgr_mean=[1, 2, 3])  # helper variables
    check_top_level_keys(cfg)
    check_section_keys(cfg)
    check_finite_values(cfg)
    check_copied_overrides(cfg, ['model.type', 'train_dataloader.dataset.pipeline.0.padding'])


@pytest.mark.parametrize(
    'key, hint',
    [('laod_from', 'load_from'), ('val_evalutor', 'val_evaluator'), ('resum', 'resume')],
)
def test_misspelt_top_level_key_is_refused_with_a_suggestion(key, hint):
    with pytest.raises(ConfigError, match=f"unknown top-level config key '{key}' .*'{hint}'"):
        check_top_level_keys(_cfg(**{key: None}))


def test_top_level_key_added_by_an_option_must_be_known():
    with pytest.raises(ConfigError, match="'laod_from' is not a config key .*'load_from'"):
        check_top_level_keys(_cfg(), ['laod_from'])
    check_top_level_keys(_cfg(), ['load_from'])


@pytest.mark.parametrize(
    'section, key, hint',
    [
        ('env_cfg', 'torch_num_thread', 'torch_num_threads'),
        ('env_cfg.mp_cfg', 'opencv_num_thread', 'opencv_num_threads'),
        ('auto_scale_lr', 'base_batchsize', 'base_batch_size'),
        ('randomness', 'sed', 'seed'),
    ],
)
def test_unknown_keys_of_our_sections_are_refused(section, key, hint):
    cfg = _cfg(randomness=dict(seed=0))
    node = cfg
    for part in section.split('.'):
        node = node[part]
    node[key] = 1
    with pytest.raises(ConfigError, match=f"{section}.{key} is not a known key .*'{hint}'"):
        check_section_keys(cfg)


def test_override_of_a_copied_helper_names_the_key_to_set():
    with pytest.raises(ConfigError, match=r'set train_dataloader\.dataset\.pipeline\.0\.padding'):
        check_copied_overrides(_cfg(), ['train_pipeline.0.padding'])
    check_copied_overrides(_cfg(test_pipeline=[dict(type='Unused')]), ['test_pipeline.0.type'])


@pytest.mark.parametrize(
    'path, value, match',
    [
        ('optim_wrapper.optimizer.lr', float('inf'), 'lr must be a finite number > 0'),
        ('optim_wrapper.optimizer.lr', float('nan'), 'lr must be a finite number > 0'),
        ('optim_wrapper.optimizer.lr', 0, 'lr must be a finite number > 0'),
        ('optim_wrapper.optimizer.momentum', float('nan'), 'momentum must be a finite'),
        ('optim_wrapper.clip_grad', dict(max_norm=0), 'max_norm must be a finite number > 0'),
        ('data_preprocessor.std', [0], r'std\[0\] must be a finite number > 0'),
        ('data_preprocessor.mean', [float('inf')], r'mean\[0\] must be a finite number'),
        ('auto_scale_lr.base_batch_size', 0, 'base_batch_size must be an int >= 1'),
        ('auto_scale_lr.base_batch_size', 2.5, 'base_batch_size must be an int >= 1'),
    ],
)
def test_values_that_make_training_meaningless(path, value, match):
    cfg = _cfg()
    *parents, leaf = path.split('.')
    node = cfg
    for part in parents:
        node = node[part]
    node[leaf] = value
    with pytest.raises(ConfigError, match=match):
        check_finite_values(cfg)


def test_did_you_mean():
    assert did_you_mean('lod_from', ['load_from', 'resume']) == " (did you mean 'load_from'?)"
    assert did_you_mean('xyz', ['load_from']) == ''
