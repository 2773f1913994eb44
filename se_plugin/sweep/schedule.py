"""Schedule shortening: the options that make an epoch-based config train fewer epochs."""

from __future__ import annotations

from collections.abc import Mapping

from .records import plain
from .spec import SweepError

_INF = float('inf')


def _check_epochs(cfg, max_epochs: int) -> dict:
    """``cfg.train_cfg`` after checking that ``max_epochs`` can apply to it."""
    if isinstance(max_epochs, bool) or not isinstance(max_epochs, int) or max_epochs < 1:
        raise SweepError(f'--max-epochs must be an int >= 1, got {max_epochs!r}')
    train_cfg = cfg.get('train_cfg') or {}
    if 'max_epochs' not in train_cfg or train_cfg.get('by_epoch') is False:
        raise SweepError(
            '--max-epochs: the config trains by iterations (train_cfg has no max_epochs); '
            'use --cfg-options train_cfg.max_iters=N'
        )
    return train_cfg


def shorten_schedule(cfg, max_epochs: int, keep_shape: bool = False) -> dict:
    """The ``--cfg-options`` that make an epoch-based config train ``max_epochs``.

    ``train_cfg.max_epochs`` is set; epoch-based parameter schedulers are cut at
    the new length (a cosine that ended at the old last epoch ends at the new
    one, so a short run still anneals) and those that would start at or after
    it are dropped.

    With ``keep_shape`` (``tools/train.py --max-epochs``, a smoke run) every
    epoch boundary of the schedulers that step per iteration
    (``convert_to_iter_based``) is scaled by ``max_epochs / old max_epochs``
    instead, so even one epoch has the warm-up *and* the decay.

    Args:
        cfg (Config): The config.
        max_epochs (int): The new length.
        keep_shape (bool): Scale the schedule instead of cutting it. Default: False.

    Returns:
        dict: The options to merge.

    Example:
        >>> from mmengine.config import Config
        >>> cfg = Config(dict(train_cfg=dict(max_epochs=5), param_scheduler=[
        ...     dict(type='CosineAnnealingLR', begin=0, end=5, T_max=5)]))
        >>> shorten_schedule(cfg, 2)['param_scheduler']
        [{'type': 'CosineAnnealingLR', 'begin': 0, 'end': 2, 'T_max': 2}]
    """
    train_cfg = _check_epochs(cfg, max_epochs)
    options: dict = {'train_cfg.max_epochs': max_epochs}
    schedulers = cfg.get('param_scheduler')
    if schedulers is None or max_epochs >= train_cfg['max_epochs']:
        return options
    if isinstance(schedulers, Mapping):
        if 'type' not in schedulers:  # one list per optimizer: leave it alone
            return options
        schedulers = [schedulers]
    if keep_shape and all(
        s.get('convert_to_iter_based') or not s.get('by_epoch', True) for s in schedulers
    ):
        options['param_scheduler'] = _scaled(schedulers, max_epochs / train_cfg['max_epochs'])
        return options
    kept = _cut(schedulers, max_epochs)
    if kept is not None:
        options['param_scheduler'] = kept
    return options


def _cut(schedulers: list, max_epochs: int):
    """The schedulers cut at ``max_epochs``, or None if none changed."""
    kept, changed = [], False
    for scheduler in map(plain, schedulers):
        if not scheduler.get('by_epoch', True):
            kept.append(scheduler)
            continue
        begin, end = scheduler.get('begin', 0), scheduler.get('end', _INF)
        if begin >= max_epochs:
            changed = True
            continue
        if end != _INF and end > max_epochs:
            if scheduler.get('T_max') == end - begin:
                scheduler['T_max'] = max_epochs - begin
            scheduler['end'] = max_epochs
            changed = True
        kept.append(scheduler)
    return kept if changed else None


def _scaled(schedulers: list, factor: float) -> list:
    """Epoch-based schedulers with ``begin``/``end``/``T_max`` times ``factor``."""
    scaled = []
    for scheduler in map(plain, schedulers):
        if scheduler.get('by_epoch', True):
            for key in ('begin', 'end', 'T_max'):
                if key in scheduler and scheduler[key] != _INF:
                    scheduler[key] = scheduler[key] * factor
        scaled.append(scheduler)
    return scaled


__all__ = ['shorten_schedule']
