"""``--max-epochs N``: an epoch-based config trained for N epochs, its schedule's shape kept.

One meaning for ``tools/train.py`` and ``tools/ablate.py``: every point in time
of the parameter schedulers (``begin``, ``end``, ``T_max``, ``milestones``,
``step_size``, ``periods``, ``total_steps``; an exponential decay's rate) is
scaled by ``N / train_cfg.max_epochs``, so the warm-up, the milestones and the
cosine keep their place relative to the run's length. A short run (N below the
config's epochs) still warms up and anneals to the end of its last epoch; a
longer one (N above) stretches the same schedule.

A scaled point that falls inside an epoch needs iteration precision: a
scheduler stepped per epoch is then stepped per iteration
(``convert_to_iter_based=True``, mmengine's own option), and a step decay
(``MultiStepLR`` / ``StepLR``) becomes one single-drop scheduler per drop, each
beginning at its drop (mmengine would never reach a fractional milestone).
Iteration-based schedulers (``by_epoch=False``) are scaled in iterations.
``ReduceOnPlateau`` schedulers follow the validation metric, not time: they are
kept as they are.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from se_plugin.runtime.errors import ArgumentError, ConfigError

__all__ = ['scale_schedule']

_OPEN = 1e9  # mmengine's INF (int(1e9)): an end at or beyond it is no end
_SCALARS = ('begin', 'end', 'T_max', 'total_steps', 'step_size')
_LISTS = ('milestones', 'periods')
_STEP_DECAYS = ('milestones', 'step_size')


def scale_schedule(cfg, max_epochs: int) -> dict:
    """The ``--cfg-options`` that make an epoch-based config train ``max_epochs``
    with its parameter schedule scaled to fit (see the module docstring).

    Args:
        cfg (Config): The config (not changed).
        max_epochs (int): The new length, in epochs.

    Returns:
        dict: ``train_cfg.max_epochs`` and, when the length changes and the
        config has schedulers, the scaled ``param_scheduler``.

    Raises:
        ArgumentError: ``max_epochs`` is not an int >= 1.
        ConfigError: The config trains by iterations, or has a scheduler whose
            length cannot be scaled (a ``total_steps`` other than its span).

    Example:
        >>> from mmengine.config import Config
        >>> cfg = Config(dict(train_cfg=dict(max_epochs=10), param_scheduler=[
        ...     dict(type='LinearLR', begin=0, end=1, convert_to_iter_based=True),
        ...     dict(type='CosineAnnealingLR', begin=1, end=10, convert_to_iter_based=True)]))
        >>> [(s['begin'], s['end']) for s in scale_schedule(cfg, 1)['param_scheduler']]
        [(0.0, 0.1), (0.1, 1.0)]
        >>> [(s['begin'], s['end']) for s in scale_schedule(cfg, 20)['param_scheduler']]
        [(0, 2), (2, 20)]
    """
    if isinstance(max_epochs, bool) or not isinstance(max_epochs, int) or max_epochs < 1:
        raise ArgumentError(f'--max-epochs must be an int >= 1, got {max_epochs!r}')
    train_cfg = cfg.get('train_cfg') or {}
    if 'max_epochs' not in train_cfg or train_cfg.get('by_epoch') is False:
        raise ConfigError(
            '--max-epochs: the config trains by iterations (train_cfg has no max_epochs); '
            'use --cfg-options train_cfg.max_iters=N'
        )
    options: dict = {'train_cfg.max_epochs': max_epochs}
    schedulers = cfg.get('param_scheduler')
    if not schedulers or max_epochs == train_cfg['max_epochs']:
        return options
    factor = max_epochs / train_cfg['max_epochs']
    old = train_cfg['max_epochs']
    if isinstance(schedulers, Mapping) and 'type' not in schedulers:  # one list per optimizer
        options['param_scheduler'] = {
            name: _scaled_list(group, factor, old) for name, group in schedulers.items()
        }
    else:
        options['param_scheduler'] = _scaled_list(schedulers, factor, old)
    return options


def _scaled_list(schedulers: Any, factor: float, old_epochs: int) -> list:
    schedulers = [schedulers] if isinstance(schedulers, Mapping) else list(schedulers)
    return [new for s in schedulers for new in _scaled(_plain(s), factor, old_epochs)]


def _plain(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_plain(v) for v in obj)
    return obj


def _scaled(scheduler: dict, factor: float, old_epochs: int) -> list:
    """``scheduler`` scaled by ``factor``: one scheduler, or its drops one by one."""
    if 'Plateau' in str(scheduler.get('type', '')):
        return [scheduler]
    new = dict(scheduler)
    for key in _SCALARS:
        if _set(new.get(key)):
            new[key] = new[key] * factor
    for key in _LISTS:
        if new.get(key) is not None:
            new[key] = [value * factor for value in new[key]]
    _check_total_steps(scheduler, new)
    if 'Exponential' in str(new.get('type', '')):
        if new.get('by_epoch', True) and not new.get('convert_to_iter_based'):
            return [_whole_exponential(scheduler, new, factor)]
        new['gamma'] = new.get('gamma', 1) ** (1 / factor)  # per iteration: time x factor
    if not new.get('by_epoch', True):
        return [_whole(new)]
    if _all_whole(new):
        return [_whole(new)]
    if any(new.get(key) is not None for key in _STEP_DECAYS):
        return _single_drops(scheduler, factor, old_epochs)
    new['convert_to_iter_based'] = True
    return [new]


def _check_total_steps(old: dict, new: dict) -> None:
    """OneCycle's ``total_steps`` must stay an int: scaled it is left to mmengine
    (``end - begin``) when it was that span, else the schedule cannot be scaled."""
    if new.get('total_steps') is None or float(new['total_steps']).is_integer():
        return
    if not _set(old.get('end')) or old['total_steps'] != old['end'] - old.get('begin', 0):
        raise ConfigError(
            f'--max-epochs: cannot scale {old.get("type")} with total_steps='
            f'{old["total_steps"]} other than end - begin; set its end instead'
        )
    del new['total_steps']


def _set(value: Any) -> bool:
    """Whether a time value is given and finite (not None, not mmengine's INF)."""
    return value is not None and value < _OPEN


def _time_values(scheduler: dict) -> list:
    values = [scheduler[k] for k in _SCALARS if _set(scheduler.get(k))]
    return values + [v for k in _LISTS for v in scheduler.get(k) or ()]


def _all_whole(scheduler: dict) -> bool:
    return all(abs(v - round(v)) < 1e-9 for v in _time_values(scheduler))


def _whole(scheduler: dict) -> dict:
    """Time values rounded to whole steps (epochs or iterations: the scheduler's
    own unit; at least 1 for lengths, ``end > begin``)."""
    new = dict(scheduler)
    for key in _SCALARS:
        if _set(new.get(key)):
            new[key] = round(new[key]) if key in ('begin', 'end') else max(1, round(new[key]))
    for key in _LISTS:
        if new.get(key) is not None:
            new[key] = [max(1, round(v)) if key == 'periods' else round(v) for v in new[key]]
    if _set(new.get('end')) and new['end'] <= new.get('begin', 0):
        new['end'] = new.get('begin', 0) + 1
    return new


def _whole_exponential(old: dict, new: dict, factor: float) -> dict:
    """An exponential decay stepped per epoch (its rate is per step: it is not
    converted to iterations) over whole epochs, with the rate that gives the
    same total decay over its rounded span (mmengine decays ``end - begin - 1``
    times)."""
    whole = dict(new)
    for key in ('begin', 'end'):
        if _set(whole.get(key)):
            whole[key] = int(whole[key] + 0.5)
    gamma = old.get('gamma', 1)
    if not _set(old.get('end')):
        whole['gamma'] = gamma ** (1 / factor)
        return whole
    begin = whole.get('begin', 0)
    decays = old['end'] - old.get('begin', 0) - 1
    whole['end'] = max(whole['end'], begin + (2 if decays > 0 else 1))
    if decays > 0:
        whole['gamma'] = gamma ** (decays / (whole['end'] - begin - 1))
    return whole


def _drops(scheduler: dict, old_epochs: int) -> list:
    """The epochs (unscaled) at which a step decay multiplies by gamma."""
    begin, end = scheduler.get('begin', 0), scheduler.get('end')
    last = min(end, old_epochs) if _set(end) else old_epochs  # later drops never happen
    if scheduler.get('milestones') is not None:
        points = [begin + m for m in scheduler['milestones']]
    else:
        step = scheduler['step_size']
        points = [begin + step * k for k in range(1, math.ceil((last - begin) / step) + 1)]
    return [p for p in points if p < last]


def _single_drops(scheduler: dict, factor: float, old_epochs: int) -> list:
    """A step decay as one scheduler per drop, each at its scaled epoch (stepped
    per iteration), so a drop inside an epoch happens at the right iteration."""
    keep = {k: v for k, v in scheduler.items() if k not in ('milestones', 'step_size')}
    if _set(keep.get('end')):
        keep['end'] = keep['end'] * factor  # else mmengine ends it with the run
    points, drops = _drops(scheduler, old_epochs), []
    for point in sorted(set(points)):
        drops.append(
            dict(
                keep,
                type=_multistep_type(scheduler.get('type', '')),
                milestones=[0] * points.count(point),  # the drop, at its first step
                begin=point * factor,
                convert_to_iter_based=True,
            )
        )
    return drops


def _multistep_type(name: str) -> str:
    """The multi-step scheduler of the same family (``StepLR`` -> ``MultiStepLR``)."""
    if 'MultiStep' in name:
        return name
    return name.replace('Step', 'MultiStep', 1)
