"""Running a prepared config: the environment settings, the Runner, and
``train`` / ``test`` with the work dir locked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from mmengine.config import Config

from se_plugin.runtime.distributed import init_distributed
from se_plugin.runtime.errors import ConfigError
from se_plugin.runtime.runner import CheckedRunner
from se_plugin.runtime.workdir_lock import lock_work_dir


def apply_env(cfg: Config) -> None:
    """se_plugin's extension of ``env_cfg``: ``torch_num_threads``."""
    threads = (cfg.get('env_cfg') or {}).get('torch_num_threads')
    if threads is not None:
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ConfigError(f'env_cfg.torch_num_threads must be an int >= 1, got {threads!r}')
        torch.set_num_threads(threads)


def build_runner(cfg: Config, load_mode: str = 'checked', verbose: bool = True):
    """The Runner for ``cfg``: :class:`~se_plugin.runtime.runner.CheckedRunner`
    (or the config's ``runner_type``).

    Args:
        cfg (Config): A prepared config.
        load_mode (str): How checkpoints load: ``'strict'``, ``'checked'`` or
            ``'partial'`` (:mod:`se_plugin.runtime.weights`). Default: 'checked'.
        verbose (bool): Whether the console shows the config dump, environment
            and hook table (the log file always has them). Default: True.
    """
    from mmengine.registry import RUNNERS

    apply_env(cfg)
    init_distributed(cfg)
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    runner_cls = type('CheckedRunner', (CheckedRunner,), dict(load_mode=load_mode, verbose=verbose))
    return runner_cls.from_cfg(cfg)


def train(cfg: Config, partial_load: bool = False, verbose: bool = False) -> None:
    """Train ``cfg`` (prepared) with the work dir locked; print the result last."""
    with lock_work_dir(cfg.work_dir, 'tools/train.py'):
        runner = build_runner(cfg, 'partial' if partial_load else 'checked', verbose)
        runner.train()
    scalars = runner.message_hub.log_scalars
    metrics = {
        k[4:]: v.current()
        for k, v in scalars.items()
        if k.startswith('val/') and k not in ('val/time', 'val/data_time')
    }
    result = f'; last validation: {format_metrics(metrics)}' if metrics else ''
    print(f'train: {runner.epoch} epochs, {runner.iter} iterations in {cfg.work_dir}{result}')


def test(cfg: Config, partial_load: bool = False, verbose: bool = False) -> dict:
    """Evaluate ``cfg.load_from`` (prepared) with the work dir locked; print and
    return the metrics."""
    with lock_work_dir(cfg.work_dir, 'tools/test.py'):
        runner = build_runner(cfg, 'partial' if partial_load else 'strict', verbose)
        metrics = runner.test()
    print(f'test: {format_metrics(metrics)}')
    return metrics


def format_metrics(metrics: Mapping[str, Any]) -> str:
    return '  '.join(
        f'{k}: {v:.2f}' if isinstance(v, float) else f'{k}: {v}' for k, v in metrics.items()
    )
