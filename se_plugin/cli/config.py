"""What ``tools/train.py`` and ``tools/test.py`` run, prepared: load and merge
the config, check it up front (config keys, data roots, checkpoint, device) and
make training crash-safe and resumable.
"""

from __future__ import annotations

import logging
import os.path as osp
from collections.abc import Mapping
from typing import Any, Optional, Union

import torch
from mmengine.config import Config
from mmengine.logging import print_log

from se_plugin.runtime.checkpoint import (
    CheckpointError,
    check_resumable,
    find_resumable_checkpoint,
    load_checkpoint_file,
)
from se_plugin.runtime.config_checks import (
    KNOWN_KEYS,
    check_copied_overrides,
    check_finite_values,
    check_optimizer_type,
    check_randomness,
    check_section_keys,
    check_top_level_keys,
    check_train_cfg,
    did_you_mean,
)
from se_plugin.runtime.data_checks import check_data_roots, check_folder_classes
from se_plugin.runtime.distributed import configure_distributed
from se_plugin.runtime.errors import ArgumentError, ConfigError

from .parser import LAUNCHERS
from .paths import check_output_dir
from .schedule import scale_schedule


def load_config(
    path: Union[str, Config], cfg_options: Optional[Mapping[str, Any]] = None
) -> Config:
    """Read a config file (or take a loaded ``Config``) and merge ``--cfg-options`` into it.

    Every ``--cfg-options`` key must extend an existing part of the config: a
    new leaf (``model.backbone.drop_path_rate``) is fine, a misspelt branch
    (``modle.backbone.depth``) is an error naming the first missing part.
    """
    if isinstance(path, Config):
        cfg = path
    elif not osp.isfile(path):
        raise FileNotFoundError(f'config file not found: {path}')
    else:
        try:
            cfg = Config.fromfile(path)
        except Exception as err:  # a config is user code: whatever it raises is the user's error
            raise ConfigError(f'cannot read config {path}: {type(err).__name__}: {err}') from None
    new_top = []
    if cfg_options:
        for key in cfg_options:
            check_option_key(cfg, key)
        check_copied_overrides(cfg, cfg_options)
        new_top = [key for key in cfg_options if key.split('.')[0] not in cfg]
        cfg.merge_from_dict(dict(cfg_options))
    check_top_level_keys(cfg, new_top)
    check_section_keys(cfg)
    check_finite_values(cfg)
    return cfg


def check_option_key(cfg: Config, key: str) -> None:
    node: Any = cfg._cfg_dict
    parts = key.split('.')
    for depth, part in enumerate(parts[:-1]):
        where = '.'.join(parts[: depth + 1])
        if isinstance(node, (list, tuple)) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, Mapping) and part in node:
            node = node[part]
        else:
            known = sorted(node) if isinstance(node, Mapping) else []
            hint = did_you_mean(part, KNOWN_KEYS if depth == 0 else known)
            renamed = _renamed(part, known)
            if renamed:
                rest = '.'.join([*parts[:depth], renamed, *parts[depth + 1 :]])
                hint = f' ({part} is the deprecated name of {renamed}: use {rest})'
            raise ConfigError(
                f'--cfg-options {key}: the config has no {where!r}{hint}'
                + (f' (known keys there: {", ".join(known)})' if known else '')
            )
        if not isinstance(node, (Mapping, list, tuple)):
            raise ConfigError(
                f'--cfg-options {key}: {where!r} is a {type(node).__name__}, not a dict or list'
            )


def _renamed(part: str, known: list) -> Optional[str]:
    """The new name of a deprecated backbone argument (``se_cfg``) the config has, or None."""
    if not part.startswith('se_'):
        return None
    from se_plugin.models.backbones.base import SE_NAMES  # only on this error path

    new = SE_NAMES.get(part)
    return new if new in known else None


def _set_dataloader_defaults(cfg: Config) -> None:
    for field in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(field)
        if loader is None:
            continue
        if loader.get('num_workers', 0) > 0:
            loader.setdefault('persistent_workers', True)
        loader.setdefault('pin_memory', torch.cuda.is_available())


def _default_work_dir(config_path: str) -> str:
    return osp.join('./work_dirs', osp.splitext(osp.basename(config_path))[0])


def prepare_train_config(
    config: str,
    work_dir: Optional[str] = None,
    resume: Optional[str] = None,
    amp: bool = False,
    auto_scale_lr: bool = False,
    no_validate: bool = False,
    cfg_options: Optional[Mapping[str, Any]] = None,
    launcher: str = 'none',
    max_epochs: Optional[int] = None,
) -> Config:
    """The config ``tools/train.py`` runs, after all checks.

    ``max_epochs`` (``--max-epochs``) trains that many epochs with the
    parameter schedule scaled to fit, as ``ablate.py --max-epochs`` does
    (:func:`~se_plugin.cli.schedule.scale_schedule`: even one epoch warms up
    and anneals; more epochs than the config's stretch the schedule).

    ``resume='auto'`` continues from the last checkpoint of the work dir (or
    starts afresh if there is none); when its ``last_checkpoint`` pointer names
    a missing or corrupt file, from the newest loadable checkpoint there, with
    a warning (:func:`~se_plugin.runtime.checkpoint.find_resumable_checkpoint`).
    Any other value is a checkpoint path, checked (loaded with the allow-list)
    before anything runs. The config is made crash-safe and resumable:
    mmengine's ``CheckpointHook`` becomes
    :class:`~se_plugin.runtime.checkpoint_hook.AtomicCheckpointHook` and an
    epoch-based ``train_cfg`` uses
    :class:`~se_plugin.runtime.loops.ResumableEpochBasedTrainLoop`.
    """
    cfg = load_config(config, cfg_options)
    if max_epochs is not None:
        cfg.merge_from_dict(scale_schedule(cfg, max_epochs))
    cfg.launcher = _check_launcher(launcher)
    configure_distributed(cfg)
    cfg.work_dir = _check_work_dir(work_dir or cfg.get('work_dir') or _default_work_dir(config))
    check_train_cfg(cfg)
    check_randomness(cfg)
    check_optimizer_type(cfg)
    if no_validate:
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    if amp:
        _check_amp_device()
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if resume == 'auto':
        _resume_auto(cfg)
    elif resume is not None:
        check_checkpoint_path(resume)
        check_resumable(resume)
        cfg.resume, cfg.load_from = True, resume
    elif cfg.get('load_from'):
        check_checkpoint_file(cfg.load_from)
    _use_crash_safe_training(cfg)
    if auto_scale_lr:
        if not isinstance(cfg.get('auto_scale_lr'), Mapping):
            raise ConfigError(f'--auto-scale-lr: {config} has no auto_scale_lr.base_batch_size')
        cfg.auto_scale_lr.enable = True
    _set_dataloader_defaults(cfg)
    phases = ['train_dataloader'] + ([] if cfg.get('val_cfg') is None else ['val_dataloader'])
    check_data_roots(cfg, phases)
    check_folder_classes(cfg, [*phases, 'test_dataloader'])
    return cfg


def _resume_auto(cfg: Config) -> None:
    """``--resume`` without a path: the work dir's last good checkpoint; on a
    fresh work dir the config's ``load_from`` (resumed if it is a training
    checkpoint, else loaded as weights), never dropped. Without either, one
    line says that training starts from scratch in the work dir."""
    said = []  # find_resumable_checkpoint's warnings (they name the work dir)

    def warn(message: str) -> None:
        said.append(message)
        print_log(message, logger='current', level=logging.WARNING)

    found = find_resumable_checkpoint(cfg.work_dir, warn) if osp.isdir(cfg.work_dir) else None
    if found is not None:
        cfg.resume, cfg.load_from = True, found
        return
    load_from = cfg.get('load_from')
    if not load_from:
        cfg.resume = False
        if not said:  # else its warning said it, with the reason
            print(f'--resume: nothing to resume in {cfg.work_dir}: training starts from scratch')
        return
    check_checkpoint_file(load_from)
    try:
        check_resumable(load_from)
    except CheckpointError:
        cfg.resume = False  # weights only: loaded, training starts at epoch 0
    else:
        cfg.resume = True
    print(
        f'--resume: nothing to resume in {cfg.work_dir}; '
        f'{"resuming from" if cfg.resume else "loading the weights of"} load_from={load_from}'
    )


def prepare_test_config(
    config: Union[str, Config],
    checkpoint: str,
    work_dir: Optional[str] = None,
    cfg_options: Optional[Mapping[str, Any]] = None,
    launcher: str = 'none',
) -> Config:
    """The config ``tools/test.py`` runs: ``checkpoint`` evaluated on the test set.

    ``config`` is a config file or a loaded ``Config`` (e.g. the one a
    checkpoint carries, :func:`se_plugin.apis.checkpoint_config`); the default
    work dir is named after the config file, else after the checkpoint.
    """
    name = config if isinstance(config, str) else (config.filename or checkpoint)
    cfg = load_config(config, cfg_options)
    cfg.launcher = _check_launcher(launcher)
    configure_distributed(cfg)
    cfg.work_dir = _check_work_dir(work_dir or cfg.get('work_dir') or _default_work_dir(name))
    check_checkpoint_file(checkpoint)
    cfg.load_from = checkpoint
    cfg.resume = False
    for key in ('test_dataloader', 'test_evaluator'):
        if cfg.get(key) is None:
            raise ConfigError(f'{name} has no {key}: nothing to test on')
    _set_dataloader_defaults(cfg)
    check_data_roots(cfg, ['test_dataloader'])
    return cfg


def _check_work_dir(work_dir: Any) -> str:
    if not isinstance(work_dir, str) or not work_dir:
        raise ConfigError(f'work_dir must be a path, got {work_dir!r}')
    return check_output_dir(work_dir, 'work_dir')


def _check_launcher(launcher: str) -> str:
    if launcher not in LAUNCHERS:
        raise ArgumentError(f'--launcher must be one of {", ".join(LAUNCHERS)}; got {launcher!r}')
    return launcher


def _check_amp_device() -> None:
    if not torch.cuda.is_available():
        raise ArgumentError(
            '--amp needs a CUDA device (mmengine AmpOptimWrapper); none is available here'
        )


def check_checkpoint_path(path: str) -> None:
    if not isinstance(path, str) or not osp.isfile(osp.expanduser(path)):
        raise FileNotFoundError(f'checkpoint not found: {path}')


def check_checkpoint_file(path: str) -> None:
    """Fail early on a missing, corrupt or unsafe local checkpoint (URLs are left
    to mmengine's loaders)."""
    if isinstance(path, str) and '://' in path:
        return
    check_checkpoint_path(path)
    load_checkpoint_file(osp.expanduser(path), map_location='cpu')


_MMENGINE_CHECKPOINT_HOOKS = ('CheckpointHook', 'mmengine.CheckpointHook')
_RESUMABLE_LOOP = 'se_plugin.ResumableEpochBasedTrainLoop'


def _use_crash_safe_training(cfg: Config) -> None:
    """mmengine's CheckpointHook -> AtomicCheckpointHook; epoch-based train_cfg
    without a loop type -> ResumableEpochBasedTrainLoop."""
    hooks = cfg.get('default_hooks')
    checkpoint = hooks.get('checkpoint') if isinstance(hooks, Mapping) else None
    if isinstance(checkpoint, Mapping) and checkpoint.get('type') in _MMENGINE_CHECKPOINT_HOOKS:
        checkpoint['type'] = 'se_plugin.AtomicCheckpointHook'
    train_cfg = cfg.get('train_cfg')
    if isinstance(train_cfg, Mapping) and 'type' not in train_cfg and train_cfg.get('by_epoch'):
        loop = {k: v for k, v in train_cfg.items() if k != 'by_epoch'}
        cfg.train_cfg = dict(type=_RESUMABLE_LOOP, **loop)
