"""Planning: check a sweep up front and lay out its runs, without training.

Everything that would fail later fails here, with one line: malformed specs,
repeated keys or points, keys whose parent is not in the config (the
``--cfg-options`` rule of :func:`se_plugin.cli.config.load_config`), and every
point's model is built once (which also gives its params and FLOPs), so a
misspelt or invalid model argument fails before any training. A run dir whose
``point.json`` describes other settings is refused rather than mixed in.
"""

from __future__ import annotations

import os.path as osp
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Optional

from se_plugin.runtime.errors import ConfigError

from .records import (
    POINT_FILE,
    RESULT_FILE,
    config_digest,
    describe,
    encode,
    plain,
    read_json,
)
from .spec import Point, SweepError, grid, parse_sweeps


@dataclass
class Run:
    """One training + test: a point with one seed, in its own work dir.

    Args:
        point (Point): The grid point.
        seed (int): The seed.
        work_dir (str): The run's mmengine work dir.
        spec (dict): What ``point.json`` holds: config, its digest, options,
            seed, validate.

    Example:
        >>> Run(Point('ratio-8', {}), 3, 'work/ratio-8/seed3', {}).label
        'ratio-8/seed3'
    """

    point: Point
    seed: int
    work_dir: str
    spec: dict

    @property
    def label(self) -> str:
        """``<point>/seed<k>``: the run's name in messages and tables."""
        return f'{self.point.name}/seed{self.seed}'


@dataclass
class Plan:
    """A checked sweep: its points, runs, and what is known before training.

    Args:
        config (str): The config file.
        work_dir (str): The sweep's work dir.
        axes (list[Axis]): The swept keys.
        points (list[Point]): The grid.
        seeds (tuple[int]): The seeds of every point.
        options (dict): ``--cfg-options`` and ``--max-epochs`` entries, applied
            to every point.
        runs (list[Run]): One per point and seed.
        complexity (dict): Point name -> (params, FLOPs or None).
        notes (list[str]): Lines to show before running.
        train_length (dict): Point name -> ``('epoch', max_epochs)`` or
            ``('iter', max_iters)``.
        baseline (str, optional): Work dir of a one-point sweep drawn as a
            reference. Default: None.

    Example:
        >>> plan = Plan('cfg.py', 'work', [], [Point('base', {})], (0,), {}, [], {}, [], {})
        >>> plan.baseline is None
        True
    """

    config: str
    work_dir: str
    axes: list
    points: list
    seeds: tuple
    options: dict
    runs: list
    complexity: dict
    notes: list
    train_length: dict
    baseline: Optional[str] = None


def _check_seeds(seeds: Sequence[int]) -> tuple:
    seeds = tuple(seeds)
    if not seeds:
        raise SweepError('--seeds: give at least one seed')
    for seed in seeds:
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise SweepError(f'--seeds must be ints >= 0, got {seed!r}')
    if len(set(seeds)) != len(seeds):
        raise SweepError(f'--seeds: a seed is given twice in {list(seeds)}')
    return seeds


def _check_key(cfg, key: str, flag: str) -> None:
    from se_plugin.cli.config import check_option_key

    try:
        check_option_key(cfg, key)
    except ConfigError as err:
        raise SweepError(str(err).replace(f'--cfg-options {key}', f'{flag} {key}', 1)) from None


def _check_axes(base, axes: Sequence, options: Mapping, shortened: Mapping) -> None:
    """Each swept key is set in one place only, and its parent is in the config."""
    for axis in axes:
        for key in options:
            if key == axis.key or key.startswith(axis.key + '.') or axis.key.startswith(key + '.'):
                flag = '--max-epochs' if key in shortened else '--cfg-options'
                raise SweepError(f'--sweep {axis.key} overlaps {flag} {key}; set it in one place')
        _check_key(base, axis.key, '--sweep')


def _shortened(base, max_epochs: Optional[int]) -> tuple:
    """``(options, note)`` of ``--max-epochs`` (none without it)."""
    if max_epochs is None:
        return {}, None
    from se_plugin.cli.schedule import scale_schedule

    shortened = scale_schedule(base, max_epochs)
    old = base.train_cfg.max_epochs
    note = f'--max-epochs {max_epochs}: ' + ', '.join(
        f'{k}={describe(v)}' if k != 'param_scheduler' else f'{k} scaled from {old} epochs'
        for k, v in shortened.items()
    )
    return shortened, note


def _train_length(cfg) -> tuple:
    train_cfg = cfg.get('train_cfg') or {}
    if 'max_epochs' in train_cfg:
        return ('epoch', train_cfg['max_epochs'])
    return ('iter', train_cfg.get('max_iters'))


def _complexity(cfg, where: str, shape: Optional[Sequence[int]], config: str, notes: list):
    """``(params, FLOPs or None)`` of the point's model; a build error is the point's."""
    from se_plugin.analysis.complexity import build_model, model_complexity, resolve_input_shape

    try:
        model = build_model(cfg)
    except Exception as err:  # any build error of a point is a bad sweep value
        raise SweepError(
            f'{where}: cannot build the model: {type(err).__name__}: ' + ' '.join(str(err).split())
        ) from None
    try:
        input_shape = resolve_input_shape(cfg, shape, config)
    except ValueError as err:
        if shape is not None:
            raise
        if not any('FLOPs' in n for n in notes):
            notes.append(f'FLOPs not counted: {err}')
        return sum(p.numel() for p in model.parameters()), None
    params, flops, _ = model_complexity(model, input_shape)
    return params, flops


def _check_run_dir(run: Run) -> None:
    existing = read_json(osp.join(run.work_dir, POINT_FILE))
    if existing is not None and existing != run.spec:
        names = {'config_digest': 'config contents'}
        differs = [names.get(k, k) for k in run.spec if existing.get(k) != run.spec[k]]
        raise SweepError(
            f'{run.work_dir} holds a run with other settings (different '
            f'{", ".join(differs) or "format"}); use another --work-dir or delete that dir'
        )


def _point_runs(config: str, cfg, point: Point, options: Mapping, seeds, validate, work_dir):
    """The point's runs (one per seed), each checked against its run dir."""
    digest, encoded = config_digest(cfg), encode({**options, **point.options})
    runs = []
    for seed in seeds:
        spec = {
            'config': osp.abspath(config),
            'config_digest': digest,
            'options': encoded,
            'seed': seed,
            'validate': bool(validate),
        }
        run = Run(point, seed, osp.join(work_dir, point.name, f'seed{seed}'), spec)
        _check_run_dir(run)
        runs.append(run)
    return runs


def plan_sweep(
    config: str,
    sweeps: Optional[Sequence[str]] = None,
    seeds: Sequence[int] = (0,),
    work_dir: Optional[str] = None,
    max_epochs: Optional[int] = None,
    cfg_options: Optional[Mapping[str, Any]] = None,
    validate: bool = False,
    shape: Optional[Sequence[int]] = None,
    baseline: Optional[str] = None,
) -> Plan:
    """Check everything and lay out the runs, without training (nothing is written).

    Args:
        config (str): The config file.
        sweeps (list[str], optional): ``KEY=V1,V2,...`` specs; none runs the
            config alone. Default: None.
        seeds (list[int]): The seeds of every point. Default: (0,).
        work_dir (str, optional): Default: ``work_dirs/ablate_<config name>``.
        max_epochs (int, optional): Train this many epochs, the schedule
            scaled to fit (:func:`~se_plugin.cli.schedule.scale_schedule`).
            Default: None.
        cfg_options (dict, optional): Entries set in every run. Default: None.
        validate (bool): Keep validation during training. Default: False.
        shape (list[int], optional): Input shape for the FLOPs. Default: None
            (from the config).
        baseline (str, optional): The work dir of a finished one-point sweep
            (e.g. the config without attention) shown as a reference line and
            row. Default: None.

    Returns:
        Plan: The checked plan.

    Raises :class:`SweepError` (or another user error of
    :mod:`se_plugin.cli`) for anything that would fail later.
    """
    from se_plugin.cli.config import load_config
    from se_plugin.cli.paths import check_output_dir

    from .report import read_baseline

    axes = parse_sweeps(sweeps)
    work_dir = work_dir or osp.join('work_dirs', 'ablate_' + osp.splitext(osp.basename(config))[0])
    check_output_dir(work_dir, '--work-dir')
    if baseline is not None:
        read_baseline(baseline)
    seeds = _check_seeds(seeds)
    base = load_config(config, cfg_options)
    options = plain(dict(cfg_options or {}))
    shortened, note = _shortened(base, max_epochs)
    notes = [note] if note else []
    options.update(shortened)
    base.merge_from_dict(shortened)
    _check_axes(base, axes, options, shortened)
    points = grid(axes)
    runs, complexity, lengths = [], {}, {}
    for point in points:
        cfg = load_config(config, {**options, **point.options})
        lengths[point.name] = _train_length(cfg)
        sets = ' '.join(f'{k}={describe(v)}' for k, v in point.options.items())
        where = f'--sweep point {point.name} ({sets})' if axes else config
        complexity[point.name] = _complexity(cfg, where, shape, config, notes)
        runs += _point_runs(config, cfg, point, options, seeds, validate, work_dir)
    return Plan(
        config, work_dir, axes, points, seeds, options, runs, complexity, notes, lengths, baseline
    )


def finished_result(run: Run) -> Optional[dict]:
    """The result of a run that already finished with these settings, else None."""
    result = read_json(osp.join(run.work_dir, RESULT_FILE))
    if result is None or result.get('spec') != run.spec:
        return None
    return result


__all__ = ['Plan', 'Run', 'finished_result', 'plan_sweep']
