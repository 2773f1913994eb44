"""Config checks: keys that mean nothing, overrides that cannot work, values
that make training meaningless.

mmengine ignores a top-level key it does not know (``laod_from=...``), our
runtime sections ignore unknown keys (``env_cfg.torch_num_thread``), and an
override of ``train_pipeline`` changes nothing once the config has copied it
into ``train_dataloader.dataset.pipeline``. ``lr=inf`` or
``data_preprocessor.std=[0]`` train on NaN. Each is a
:class:`~se_plugin.runtime.errors.ConfigError` here, before anything runs.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Mapping
from typing import Any, Optional

from mmengine.config import Config

from .errors import ConfigError

__all__ = [
    'HELPER_KEYS',
    'KNOWN_KEYS',
    'RUNNER_KEYS',
    'SECTION_KEYS',
    'check_copied_overrides',
    'check_finite_values',
    'check_optimizer_type',
    'check_randomness',
    'check_train_cfg',
    'check_section_keys',
    'check_top_level_keys',
    'did_you_mean',
]

# what mmengine's Runner.from_cfg reads
RUNNER_KEYS = (
    'model', 'work_dir', 'train_dataloader', 'val_dataloader', 'test_dataloader',
    'train_cfg', 'val_cfg', 'test_cfg', 'auto_scale_lr', 'optim_wrapper',
    'param_scheduler', 'val_evaluator', 'test_evaluator', 'default_hooks', 'custom_hooks',
    'data_preprocessor', 'load_from', 'resume', 'launcher', 'env_cfg', 'log_processor',
    'log_level', 'visualizer', 'default_scope', 'randomness', 'experiment_name', 'cfg',
    'runner_type', 'compile', 'strategy', 'model_wrapper_cfg', 'custom_imports',
)  # fmt: skip
# the OpenMMLab conventions for helper variables (read by other tools, or copied)
HELPER_KEYS = (
    'train_pipeline', 'test_pipeline', 'val_pipeline', 'tta_pipeline', 'tta_model',
    'dataset_type', 'data_root', 'vis_backends', 'backend_args',
)  # fmt: skip
KNOWN_KEYS = RUNNER_KEYS + HELPER_KEYS

# se_plugin's runtime sections and the keys they take
SECTION_KEYS = {
    'env_cfg': ('cudnn_benchmark', 'mp_cfg', 'dist_cfg', 'resource_limit', 'torch_num_threads'),
    'env_cfg.mp_cfg': ('mp_start_method', 'opencv_num_threads'),
    'auto_scale_lr': ('base_batch_size', 'enable'),
    'randomness': ('seed', 'deterministic', 'diff_rank_seed'),
}


def _get_path(cfg: Config, dotted: str) -> Any:
    """``cfg``'s value at ``a.b.c``, or None where a part is missing."""
    node: Any = cfg._cfg_dict if isinstance(cfg, Config) else cfg
    for part in dotted.split('.'):
        node = node.get(part) if isinstance(node, Mapping) else None
    return node


def did_you_mean(name: str, known: Iterable[str], cutoff: float = 0.75) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``known``, or ``''``.

    Args:
        name (str): The unknown name.
        known (Iterable[str]): The names it may be a misspelling of.
        cutoff (float): Least ``difflib`` similarity. Default: 0.75.
    """
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=cutoff)
    return f' (did you mean {close[0]!r}?)' if close else ''


def check_top_level_keys(cfg: Config, option_keys: Iterable[str] = ()) -> None:
    """Refuse a misspelt top-level key.

    A config may define helper variables (``pipeline = [...]``), so a key of
    the file is refused only when it is one edit or so away from a key mmengine
    reads (``laod_from``); a top-level key that a ``--cfg-options`` entry adds
    is refused unless mmengine reads it.

    Args:
        cfg (Config): The merged config.
        option_keys (Iterable[str]): The ``--cfg-options`` keys that created new
            top-level entries. Default: ().
    """
    for key in cfg:
        if key in KNOWN_KEYS or key.startswith('_'):
            continue
        hint = did_you_mean(key, KNOWN_KEYS, cutoff=0.85)  # 'pipeline' is no 'val_pipeline'
        if hint:
            raise ConfigError(f'unknown top-level config key {key!r}{hint}')
    for key in option_keys:
        top = key.split('.')[0]
        if top not in KNOWN_KEYS:
            raise ConfigError(
                f'--cfg-options {key}: {top!r} is not a config key mmengine reads'
                f'{did_you_mean(top, KNOWN_KEYS)}'
            )


def check_section_keys(cfg: Config) -> None:
    """Refuse unknown keys in ``env_cfg``, ``env_cfg.mp_cfg``, ``auto_scale_lr``, ``randomness``."""
    for where, known in SECTION_KEYS.items():
        section = _get_path(cfg, where)
        if not isinstance(section, Mapping):
            continue
        for key in section:
            if key not in known:
                raise ConfigError(
                    f'{where}.{key} is not a known key of {where}{did_you_mean(key, known)} '
                    f'(known: {", ".join(known)})'
                )


def _paths_of(node: Any, value: Any, path: str = '') -> Iterable[str]:
    """Dotted paths under ``node`` whose value equals ``value``."""
    if path and node == value:
        yield path
        return
    if isinstance(node, Mapping):
        for k, v in node.items():
            yield from _paths_of(v, value, f'{path}.{k}' if path else str(k))
    elif isinstance(node, (list, tuple)):
        for i, v in enumerate(node):
            yield from _paths_of(v, value, f'{path}.{i}')


def check_copied_overrides(cfg: Config, option_keys: Iterable[str]) -> None:
    """Refuse ``--cfg-options`` on a helper variable the config has already copied.

    ``train_pipeline.1.scale=32`` edits the variable ``train_pipeline``, but
    ``train_dataloader.dataset.pipeline`` holds the copy made when the file was
    read; the error names the key to set instead.

    Args:
        cfg (Config): The config before the options are merged.
        option_keys (Iterable[str]): The ``--cfg-options`` keys.
    """
    for key in option_keys:
        top, _, rest = key.partition('.')
        value = cfg.get(top)
        if top in RUNNER_KEYS or not isinstance(value, (Mapping, list, tuple)):
            continue  # a key mmengine reads itself, or a plain value
        copies = [p for p in _paths_of(cfg._cfg_dict, value) if p != top]
        if copies:
            targets = ' or '.join(f'{c}{"." + rest if rest else ""}' for c in copies[:2])
            raise ConfigError(
                f'--cfg-options {key} has no effect: the config copied {top} into '
                f'{", ".join(copies)} when it was read; set {targets} instead'
            )


def _bad_number(value: Any, positive: bool) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False  # types are checked where the value is used
    return not math.isfinite(value) or (positive and value <= 0)


def _check_number(where: str, value: Any, positive: bool = False) -> None:
    if _bad_number(value, positive):
        need = 'a finite number > 0' if positive else 'a finite number'
        raise ConfigError(f'{where} must be {need}, got {value!r}')


def _check_optimizer(optimizer: Optional[Mapping]) -> None:
    if not isinstance(optimizer, Mapping):
        return
    _check_number('optim_wrapper.optimizer.lr', optimizer.get('lr'), positive=True)
    for key in ('weight_decay', 'momentum', 'eps'):
        _check_number(f'optim_wrapper.optimizer.{key}', optimizer.get(key))


def check_finite_values(cfg: Config) -> None:
    """Refuse non-finite or zero values that make training meaningless.

    ``optim_wrapper.optimizer.lr`` (finite, > 0), its ``weight_decay``,
    ``momentum`` and ``eps`` (finite), ``optim_wrapper.clip_grad.max_norm``
    (finite, > 0), ``auto_scale_lr.base_batch_size`` (an int > 0) and
    ``data_preprocessor.mean`` / ``std`` (finite; std != 0).
    """
    wrapper = cfg.get('optim_wrapper')
    if isinstance(wrapper, Mapping):
        _check_optimizer(wrapper.get('optimizer'))
        clip = wrapper.get('clip_grad')
        if isinstance(clip, Mapping):
            _check_number('optim_wrapper.clip_grad.max_norm', clip.get('max_norm'), True)
    scale = cfg.get('auto_scale_lr')
    if isinstance(scale, Mapping) and 'base_batch_size' in scale:
        size = scale['base_batch_size']
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ConfigError(f'auto_scale_lr.base_batch_size must be an int >= 1, got {size!r}')
    for where in ('data_preprocessor', 'model.data_preprocessor'):
        node = _get_path(cfg, where)
        if not isinstance(node, Mapping):
            continue
        for key in ('mean', 'std'):
            values = node.get(key)
            for i, v in enumerate(values if isinstance(values, (list, tuple)) else ()):
                _check_number(f'{where}.{key}[{i}]', v, positive=key == 'std')


_LOOP_INTS = ('max_epochs', 'max_iters', 'val_interval', 'val_begin')


def check_train_cfg(cfg: Config) -> None:
    """Clear errors for the train_cfg values mmengine asserts on or divides by."""
    train_cfg = cfg.get('train_cfg')
    if train_cfg is None:
        return
    if not isinstance(train_cfg, Mapping):
        raise ConfigError(f'train_cfg must be a dict, got {train_cfg!r}')
    for key in _LOOP_INTS:
        if key in train_cfg:
            value = train_cfg[key]
            minimum = 0 if key == 'val_begin' else 1
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ConfigError(f'train_cfg.{key} must be an int >= {minimum}, got {value!r}')


def check_randomness(cfg: Config) -> None:
    randomness = cfg.get('randomness') or {}
    if not isinstance(randomness, Mapping):
        raise ConfigError(f'randomness must be a dict, got {randomness!r}')
    seed = randomness.get('seed')
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise ConfigError(f'randomness.seed must be None or an int >= 0, got {seed!r}')


def check_optimizer_type(cfg: Config) -> None:
    """An unknown optimizer type otherwise ends in mmengine with the message
    'None is not a callable object'."""
    from mmengine.registry import OPTIMIZERS

    optimizer = (cfg.get('optim_wrapper') or {}).get('optimizer')
    layer_type = optimizer.get('type') if isinstance(optimizer, Mapping) else None
    if not isinstance(layer_type, str):
        return
    with OPTIMIZERS.switch_scope_and_registry(cfg.get('default_scope')) as registry:
        try:
            found = registry.get(layer_type)
        except Exception:  # mmengine raises RuntimeError for unknown dotted names
            found = None
    if found is None:
        raise ConfigError(
            f'optim_wrapper.optimizer.type: {layer_type!r} is not a registered optimizer '
            '(torch.optim names such as SGD, AdamW, or mmpretrain ones such as LARS, Lamb)'
        )
