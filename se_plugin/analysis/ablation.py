"""Ablation sweeps: a real train + test for every grid point and seed, aggregated.

What ``tools/ablate.py`` does::

    python tools/ablate.py configs/quickstart/se_resnet18_mnist5k.py \\
        --sweep model.backbone.se_cfg.ratio=2,4,8,16,32 --seeds 0 1 2 \\
        --max-epochs 3 --work-dir work_dirs/ablate_ratio

Sweep specs
    ``--sweep KEY=V1,V2,...`` sweeps one config key (a dotted path, as for
    ``--cfg-options``) over the values. Values are separated by commas outside
    brackets and quotes, so tuples need no other separator:
    ``--sweep 'model.backbone.se_stages=(False,True,True,True),(True,True,True,True)'``.
    Each value is read like mmengine's ``DictAction`` reads ``--cfg-options``
    values (ints, floats, ``True``/``False``/``None``, ``(..)`` tuples, ``[..]``
    lists, anything else a string; spaces are dropped); a value in quotes stays
    that exact string (``'None'``). Several ``--sweep`` give the full grid, in
    the order given; none gives the config alone (useful with ``--seeds``).

Training length and scoring
    ``--max-epochs N`` sets ``train_cfg.max_epochs`` and cuts epoch-based lr
    schedulers to the new length (see :func:`shorten_schedule`), for quick
    sweeps; ``--cfg-options`` applies to every run. Validation during training
    is off unless ``--validate``: every run is scored once, by a test of its
    last checkpoint on the config's test set (``--metric``, default
    ``accuracy/top1``).

Checks up front (errors end the tool with one line, exit 2)
    Malformed specs, empty values, repeated keys or points, keys whose parent is
    not in the config (the ``--cfg-options`` rule of
    :func:`se_plugin.runtime.cli.load_config`), and every point's model is built
    once (which also gives its params and FLOPs), so a misspelt or invalid
    model argument fails before any training.

One run per point and seed
    Each run is one Python subprocess (``python -m se_plugin.analysis.ablation
    --point DIR``) that does what ``tools/train.py`` then ``tools/test.py`` do,
    through :mod:`se_plugin.runtime.cli` (``prepare_train_config`` /
    ``build_runner``, then ``prepare_test_config`` on the last checkpoint). A
    process per run, rather than runners in this process, keeps runs apart from
    mmengine's process-wide state (``ManagerMixin`` instances such as the
    message hub and visualizer, the default scope, seeding, torch threads,
    logging handlers), frees all memory between runs, and lets a crash or an
    out-of-memory kill fail one run without taking the sweep down. Training
    and test share that one process, so each run pays the import time (about
    9 s on the shared 2-core machine) once.

Layout of ``WORK`` (the ``--work-dir``)::

    sweep.json            the last invocation (config, axes, seeds, options)
    results.csv/.md/.png  per point: metric mean and std over seeds, params,
                          FLOPs, time; the plot is metric vs the first swept key
    runs.csv              per point and seed
    <point>/seed<k>/      the mmengine work dir of one run: point.json (what
                          runs there), ablate.log (its output), checkpoints,
                          logs, the dumped config, test/ (the test run) and
                          result.json, written atomically when the run ends

Resuming
    Rerunning the same command skips runs that have a ``result.json``; a run
    that was interrupted is started again with ``resume='auto'``, so it goes on
    from its last checkpoint. A run dir whose ``point.json`` describes other
    settings (another config, other options or seed, or a config file edited
    since: ``point.json`` holds a digest of the merged config) is refused
    rather than mixed in.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import hashlib
import itertools
import json
import math
import os
import os.path as osp
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, Optional

from se_plugin.runtime.atomic import atomic_open
from se_plugin.runtime.cli import ConfigError

POINT_FILE = 'point.json'
RESULT_FILE = 'result.json'
LOG_FILE = 'ablate.log'
DEFAULT_METRIC = 'accuracy/top1'
_INF = float('inf')


class SweepError(ConfigError):
    """A sweep that cannot run as given (a user error: exit 2)."""


class RunFailed(RuntimeError):
    """A run of the sweep ended with an error."""


# --------------------------------------------------------------------------- specs


@dataclass(frozen=True)
class Axis:
    """One swept config key and its values; ``label`` names it in tables and dirs."""

    key: str
    values: tuple
    label: str = ''


@dataclass(frozen=True)
class Point:
    """One grid point: a name (its directory) and the config entries it sets."""

    name: str
    options: dict = field(hash=False)

    def values(self, axes: Sequence[Axis]) -> tuple:
        return tuple(self.options[axis.key] for axis in axes)


_KEY = re.compile(r'^[A-Za-z_]\w*(\.\w+)*$')
_PAIRS = {'(': ')', '[': ']', '{': '}'}


def split_values(text: str) -> list:
    """Split at commas that are outside brackets and quotes.

    >>> split_values('2,4,(1,2),[3,4],"a,b"')
    ['2', '4', '(1,2)', '[3,4]', '"a,b"']
    """
    items, depth, quote, start = [], [], None, 0
    for i, char in enumerate(text):
        if quote:
            if char == quote:
                quote = None
        elif char in '\'"':
            quote = char
        elif char in _PAIRS:
            depth.append(_PAIRS[char])
        elif char in ')]}':
            if not depth or depth.pop() != char:
                raise ValueError(f'unbalanced {char!r}')
        elif char == ',' and not depth:
            items.append(text[start:i])
            start = i + 1
    if quote:
        raise ValueError(f'unclosed quote {quote}')
    if depth:
        raise ValueError(f'unclosed {"".join(depth)!r}')
    items.append(text[start:])
    return items


def parse_value(text: str) -> Any:
    """One sweep value, read like mmengine's ``DictAction`` (quotes keep a string).

    >>> parse_value('16'), parse_value('0.5'), parse_value('None'), parse_value('post')
    (16, 0.5, None, 'post')
    >>> parse_value('(False,True,True,True)')
    (False, True, True, True)
    >>> parse_value("'None'")
    'None'
    """
    from mmengine.config import DictAction

    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in '\'"':
        return text[1:-1]
    return DictAction._parse_iterable(text)


def parse_sweep(spec: str) -> Axis:
    """``KEY=V1,V2,...`` as an :class:`Axis` (``label`` left empty).

    >>> parse_sweep('model.backbone.se_cfg.ratio=2,4,8')
    Axis(key='model.backbone.se_cfg.ratio', values=(2, 4, 8), label='')
    """
    if not isinstance(spec, str) or '=' not in spec:
        raise SweepError(f'--sweep {spec!r}: expected KEY=V1,V2,... (e.g. model.x.ratio=2,4)')
    key, _, text = spec.partition('=')
    key = key.strip()
    if not _KEY.match(key):
        raise SweepError(f'--sweep {spec!r}: {key!r} is not a dotted config key')
    if not text.strip():
        raise SweepError(f'--sweep {key}: no values after "="')
    try:
        items = split_values(text)
    except ValueError as err:
        raise SweepError(f'--sweep {key}: malformed values {text!r}: {err}') from None
    if any(not item.strip() for item in items):
        raise SweepError(f'--sweep {key}: empty value in {text!r} (values are V1,V2,...)')
    return Axis(key, tuple(parse_value(item) for item in items))


def _labels(keys: Sequence[str]) -> list:
    """The shortest dotted suffixes that tell the keys apart."""
    labels = []
    for key in keys:
        parts = key.split('.')
        for n in range(1, len(parts) + 1):
            label = '.'.join(parts[-n:])
            if sum(k == label or k.endswith('.' + label) for k in keys) == 1:
                break
        labels.append(label)
    return labels


def parse_sweeps(specs: Optional[Sequence[str]]) -> list:
    """The axes of several ``--sweep`` specs (labels filled in, keys distinct)."""
    axes = [parse_sweep(spec) for spec in specs or ()]
    keys = [axis.key for axis in axes]
    for i, key in enumerate(keys):
        for other in keys[:i]:
            if key == other or key.startswith(other + '.') or other.startswith(key + '.'):
                raise SweepError(f'--sweep {key}: overlaps --sweep {other}; sweep each key once')
    return [Axis(a.key, a.values, label) for a, label in zip(axes, _labels(keys))]


def slug(value: Any) -> str:
    """A value as a file-name-safe string.

    >>> slug(16), slug(0.5), slug((False, True)), slug('post'), slug(None)
    ('16', '0.5', 'False-True', 'post', 'None')
    """
    if isinstance(value, (list, tuple)):
        text = '-'.join(slug(v) for v in value) or 'empty'
    else:
        text = str(value)
    return re.sub(r'[^A-Za-z0-9.+-]+', '-', text).strip('-') or 'empty'


def grid(axes: Sequence[Axis]) -> list:
    """Every combination of the axes' values, named ``label-value[_label-value...]``.

    >>> [p.name for p in grid(parse_sweeps(['a.ratio=2,4', 'a.se_position=standard,post']))]
    ['ratio-2_se_position-standard', 'ratio-2_se_position-post', 'ratio-4_se_position-standard', 'ratio-4_se_position-post']
    """  # noqa: E501
    if not axes:
        return [Point('base', {})]
    for axis in axes:
        seen = {}
        for value in axis.values:
            name = slug(value)
            if name in seen:
                raise SweepError(
                    f'--sweep {axis.key}: values {seen[name]!r} and {value!r} give the same '
                    f'point name {name!r}'
                    if seen[name] != value or type(seen[name]) is not type(value)
                    else f'--sweep {axis.key}: value {value!r} is given twice'
                )
            seen[name] = value
    points = []
    for values in itertools.product(*(axis.values for axis in axes)):
        name = '_'.join(f'{axis.label}-{slug(v)}' for axis, v in zip(axes, values))
        points.append(Point(name, {axis.key: v for axis, v in zip(axes, values)}))
    return points


# --------------------------------------------------------------------- options


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
    """
    if isinstance(max_epochs, bool) or not isinstance(max_epochs, int) or max_epochs < 1:
        raise SweepError(f'--max-epochs must be an int >= 1, got {max_epochs!r}')
    train_cfg = cfg.get('train_cfg') or {}
    if 'max_epochs' not in train_cfg or train_cfg.get('by_epoch') is False:
        raise SweepError(
            '--max-epochs: the config trains by iterations (train_cfg has no max_epochs); '
            'use --cfg-options train_cfg.max_iters=N'
        )
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
    kept, changed = [], False
    for scheduler in schedulers:
        scheduler = _plain(scheduler)
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
    if changed:
        options['param_scheduler'] = kept
    return options


def _scaled(schedulers: list, factor: float) -> list:
    """Epoch-based schedulers with ``begin``/``end``/``T_max`` times ``factor``."""
    scaled = []
    for scheduler in map(_plain, schedulers):
        if scheduler.get('by_epoch', True):
            for key in ('begin', 'end', 'T_max'):
                if key in scheduler and scheduler[key] != _INF:
                    scheduler[key] = scheduler[key] * factor
        scaled.append(scheduler)
    return scaled


def _plain(obj: Any) -> Any:
    """ConfigDicts and lists as plain dicts and lists (tuples kept)."""
    if isinstance(obj, Mapping):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_plain(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_plain(v) for v in obj)
    return obj


def encode(obj: Any) -> Any:
    """JSON form that keeps tuples apart from lists (``{"__tuple__": [...]}``)."""
    if isinstance(obj, tuple):
        return {'__tuple__': [encode(v) for v in obj]}
    if isinstance(obj, list):
        return [encode(v) for v in obj]
    if isinstance(obj, Mapping):
        return {str(k): encode(v) for k, v in obj.items()}
    if isinstance(obj, float) and not math.isfinite(obj):
        return {'__float__': repr(obj)}
    return obj


def decode(obj: Any) -> Any:
    """Inverse of :func:`encode`.

    >>> decode(json.loads(json.dumps(encode({'a': (1, [2, (3,)]), 'b': float('inf')}))))
    {'a': (1, [2, (3,)]), 'b': inf}
    """
    if isinstance(obj, list):
        return [decode(v) for v in obj]
    if isinstance(obj, dict):
        if set(obj) == {'__tuple__'}:
            return tuple(decode(v) for v in obj['__tuple__'])
        if set(obj) == {'__float__'}:
            return float(obj['__float__'])
        return {k: decode(v) for k, v in obj.items()}
    return obj


def write_json(path: str, data: Any) -> None:
    """Write JSON atomically (:func:`~se_plugin.runtime.atomic.atomic_open`)."""
    with atomic_open(path, 'w') as f:
        json.dump(data, f, indent=2, sort_keys=True)


def read_json(path: str) -> Optional[Any]:
    """The JSON in ``path``, or None if it is missing or unreadable (a torn write)."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


# ------------------------------------------------------------------------ plan


@dataclass
class Run:
    """One training + test: a point with one seed, in its own work dir."""

    point: Point
    seed: int
    work_dir: str
    spec: dict  # what point.json holds: config, options, seed, validate

    @property
    def label(self) -> str:
        return f'{self.point.name}/seed{self.seed}'


@dataclass
class Plan:
    config: str
    work_dir: str
    axes: list
    points: list
    seeds: tuple
    options: dict  # --cfg-options and --max-epochs entries, applied to every point
    runs: list
    complexity: dict  # point name -> (params, flops or None)
    notes: list  # lines to show before running
    train_length: dict  # point name -> ('epoch', max_epochs) or ('iter', max_iters)
    baseline: Optional[str] = None  # work dir of a one-point sweep drawn as a reference


def _check_key(cfg, key: str, flag: str) -> None:
    from se_plugin.runtime.cli import check_option_key

    try:
        check_option_key(cfg, key)
    except ConfigError as err:
        raise SweepError(str(err).replace(f'--cfg-options {key}', f'{flag} {key}', 1)) from None


def _train_length(cfg) -> tuple:
    train_cfg = cfg.get('train_cfg') or {}
    if 'max_epochs' in train_cfg:
        return ('epoch', train_cfg['max_epochs'])
    return ('iter', train_cfg.get('max_iters'))


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
    """Check everything and lay out the runs, without training.

    ``baseline`` is the work dir of a finished one-point sweep (e.g. the
    config without attention) shown as a reference line and row.

    Raises :class:`SweepError` (or another user error of
    :mod:`se_plugin.runtime.cli`) for anything that would fail later.
    """
    from se_plugin.analysis.complexity import build_model, model_complexity, resolve_input_shape
    from se_plugin.runtime.cli import load_config

    axes = parse_sweeps(sweeps)
    if baseline is not None:
        read_baseline(baseline)
    seeds = tuple(seeds)
    if not seeds:
        raise SweepError('--seeds: give at least one seed')
    for seed in seeds:
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise SweepError(f'--seeds must be ints >= 0, got {seed!r}')
    if len(set(seeds)) != len(seeds):
        raise SweepError(f'--seeds: a seed is given twice in {list(seeds)}')
    base = load_config(config, cfg_options)
    options = _plain(dict(cfg_options or {}))
    notes, shortened = [], {}
    if max_epochs is not None:
        shortened = shorten_schedule(base, max_epochs)
        notes.append(
            f'--max-epochs {max_epochs}: '
            + ', '.join(
                f'{k}={_describe(v)}'
                if k != 'param_scheduler'
                else f'{k} cut at epoch {max_epochs}'
                for k, v in shortened.items()
            )
        )
        options.update(shortened)
        base.merge_from_dict(shortened)
    for axis in axes:
        for key in options:
            if key == axis.key or key.startswith(axis.key + '.') or axis.key.startswith(key + '.'):
                flag = '--max-epochs' if key in shortened else '--cfg-options'
                raise SweepError(f'--sweep {axis.key} overlaps {flag} {key}; set it in one place')
        _check_key(base, axis.key, '--sweep')

    points = grid(axes)
    work_dir = work_dir or osp.join('work_dirs', 'ablate_' + osp.splitext(osp.basename(config))[0])
    runs, complexity, lengths = [], {}, {}
    for point in points:
        cfg = load_config(config, {**options, **point.options})
        digest = config_digest(cfg)
        lengths[point.name] = _train_length(cfg)
        sets = ' '.join(f'{k}={_describe(v)}' for k, v in point.options.items())
        where = f'--sweep point {point.name} ({sets})' if axes else config
        try:
            model = build_model(cfg)
        except Exception as err:  # any build error of a point is a bad sweep value
            raise SweepError(
                f'{where}: cannot build the model: {type(err).__name__}: '
                + ' '.join(str(err).split())
            ) from None
        try:
            input_shape = resolve_input_shape(cfg, shape, config)
        except ValueError as err:
            if shape is not None:
                raise
            params = sum(p.numel() for p in model.parameters())
            complexity[point.name] = (params, None)
            if not any('FLOPs' in n for n in notes):
                notes.append(f'FLOPs not counted: {err}')
        else:
            params, flops, _ = model_complexity(model, input_shape)
            complexity[point.name] = (params, flops)
        del model
        for seed in seeds:
            spec = {
                'config': osp.abspath(config),
                'config_digest': digest,
                'options': encode({**options, **point.options}),
                'seed': seed,
                'validate': bool(validate),
            }
            run = Run(point, seed, osp.join(work_dir, point.name, f'seed{seed}'), spec)
            _check_run_dir(run)
            runs.append(run)
    return Plan(
        config, work_dir, axes, points, seeds, options, runs, complexity, notes, lengths, baseline
    )


def read_baseline(work_dir: str, metric: Optional[str] = None) -> dict:
    """The one point of a finished sweep in ``work_dir``: config, n, and ``metric`` mean/std."""
    sweep = read_json(osp.join(work_dir, 'sweep.json'))
    path = osp.join(work_dir, 'results.csv')
    if sweep is None or not osp.isfile(path):
        raise FileNotFoundError(f'--baseline {work_dir}: no finished sweep there (results.csv)')
    with open(path, newline='') as f:
        rows = list(csv.DictReader(f))
    if len(rows) != 1:
        raise SweepError(f'--baseline {work_dir}: expected one point, found {len(rows)}')
    row = rows[0]
    baseline = {'dir': work_dir, 'config': sweep['config'], 'n': int(row['seeds'])}
    if metric is not None:
        if f'{metric} mean' not in row:
            raise SweepError(f'--baseline {work_dir}: it has no {metric} results')
        std = row[f'{metric} std']
        baseline.update(mean=float(row[f'{metric} mean']), std=float(std) if std else None)
    return baseline


def config_digest(cfg) -> str:
    """A digest of a merged config's contents: a run notices an edited config file."""
    text = json.dumps(encode(_plain(cfg.to_dict())), sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _describe(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def _check_run_dir(run: Run) -> None:
    existing = read_json(osp.join(run.work_dir, POINT_FILE))
    if existing is not None and existing != run.spec:
        names = {'config_digest': 'config contents'}
        differs = [names.get(k, k) for k in run.spec if existing.get(k) != run.spec[k]]
        raise SweepError(
            f'{run.work_dir} holds a run with other settings (different '
            f'{", ".join(differs) or "format"}); use another --work-dir or delete that dir'
        )


# ------------------------------------------------------------------------- run


def _hms(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f'{hours}h{minutes:02d}m{secs:02d}s'
    return f'{minutes}m{secs:02d}s' if minutes else f'{secs}s'


_TRAIN_EPOCH = re.compile(r'Epoch\(train\)\s*\[(\d+)\]\s*\[\s*(\d+)\s*/\s*(\d+)\]')
_TRAIN_ITER = re.compile(r'Iter\(train\)\s*\[\s*(\d+)\s*/\s*(\d+)\]')
_TEST = re.compile(r'Epoch\(test\)\s*\[\s*(\d+)\s*/\s*(\d+)\]')
_LOSS = re.compile(r'\bloss: ([-\d.e+naif]+)')


def parse_progress(line: str, length: tuple) -> Optional[tuple]:
    """``(fraction of the run done, short text)`` from an mmengine log line, or None.

    >>> parse_progress('... - INFO - Epoch(train) [2][20/63]  lr: 0.1  loss: 0.51', ('epoch', 3))
    (0.4259..., 'epoch 2/3 [20/63] loss 0.51')
    """
    loss = _LOSS.search(line)
    loss = f' loss {loss.group(1)}' if loss else ''
    match = _TRAIN_EPOCH.search(line)
    if match and length[0] == 'epoch' and length[1]:
        epoch, i, n = map(int, match.groups())
        done = ((epoch - 1) * n + i) / (length[1] * n)
        return min(done, 1.0) * 0.97, f'epoch {epoch}/{length[1]} [{i}/{n}]{loss}'
    match = _TRAIN_ITER.search(line)
    if match:
        i, n = map(int, match.groups())
        return i / n * 0.97, f'iter [{i}/{n}]{loss}'
    match = _TEST.search(line)
    if match:
        i, n = map(int, match.groups())
        return 0.97 + 0.03 * i / n, f'test [{i}/{n}]'
    return None


class Progress:
    """Lines of ``[i/N] point/seed: ... | elapsed | ETA`` on ``stream``."""

    def __init__(self, total_runs: int, to_run: int, stream: IO[str]):
        self.total, self.to_run, self.stream = total_runs, to_run, stream
        self.start = time.monotonic()
        self.finished = 0  # runs done in this session
        self.partial = 0.0

    def eta(self) -> str:
        done = self.finished + self.partial
        elapsed = time.monotonic() - self.start
        if done < 0.02:
            return 'ETA ?'
        return f'ETA {_hms(elapsed / done * max(self.to_run - done, 0))}'

    def say(self, index: int, run: Run, text: str, timing: bool = True) -> None:
        line = f'[{index}/{self.total}] {run.label}: {text}'
        if timing:
            line += f' | elapsed {_hms(time.monotonic() - self.start)} | {self.eta()}'
        print(line, file=self.stream, flush=True)


def _worker_env() -> dict:
    env = dict(os.environ)
    root = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
    env['PYTHONPATH'] = os.pathsep.join(filter(None, [root, env.get('PYTHONPATH')]))
    env['PYTHONUNBUFFERED'] = '1'
    return env


def launch(
    run: Run,
    length: tuple,
    progress: Progress,
    index: int,
    python: str = sys.executable,
) -> dict:
    """Run one training + test in a subprocess; its result dict."""
    os.makedirs(run.work_dir, exist_ok=True)
    write_json(osp.join(run.work_dir, POINT_FILE), run.spec)
    log_path = osp.join(run.work_dir, LOG_FILE)
    command = [python, '-m', 'se_plugin.analysis.ablation', '--point', run.work_dir]
    last_shown = 0.0
    tail: list = []
    with open(log_path, 'a') as log:
        log.write(f'\n===== {time.strftime("%Y-%m-%d %H:%M:%S")} {" ".join(command)}\n')
        log.flush()
        proc = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            env=_worker_env(),
        )
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                log.write(line)
                tail = (tail + [line.rstrip()])[-8:]
                status = parse_progress(line, length)
                if status is None:
                    continue
                progress.partial = status[0]
                now = time.monotonic()
                if now - last_shown >= 2.0 or status[0] >= 0.97:
                    progress.say(index, run, status[1])
                    last_shown = now
            code = proc.wait()
        finally:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
    result = read_json(osp.join(run.work_dir, RESULT_FILE))
    if code != 0 or result is None:
        last = next((t for t in reversed(tail) if t.strip()), '')
        raise RunFailed(
            f'{run.label} failed (exit code {code}): {last.strip()[:300]} -- full log: {log_path}'
        )
    return result


def finished_result(run: Run) -> Optional[dict]:
    """The result of a run that already finished with these settings, else None."""
    result = read_json(osp.join(run.work_dir, RESULT_FILE))
    if result is None or result.get('spec') != run.spec:
        return None
    return result


@contextlib.contextmanager
def _sigterm_interrupts():
    """SIGTERM raises KeyboardInterrupt, so a killed sweep also stops its running worker."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def execute(
    plan: Plan,
    metric: str = DEFAULT_METRIC,
    stream: IO[str] = sys.stdout,
    keep_going: bool = False,
    command: Optional[str] = None,
    python: str = sys.executable,
) -> dict:
    """Run (or skip) every run of the plan and write the aggregates.

    Finished runs (a ``result.json`` with the same settings) are skipped; the
    aggregates are rewritten after every run, the plot at the end. Raises
    :class:`RunFailed` at the first failed run unless ``keep_going``.

    Returns ``{'results': {run label: result}, 'failed': [messages], 'files': [...]}``.
    """
    os.makedirs(plan.work_dir, exist_ok=True)
    write_json(
        osp.join(plan.work_dir, 'sweep.json'),
        {
            'config': plan.config,
            'axes': [{'key': a.key, 'values': encode(a.values)} for a in plan.axes],
            'seeds': list(plan.seeds),
            'options': encode(plan.options),
            'command': command,
        },
    )
    results = {run.label: finished_result(run) for run in plan.runs}
    results = {label: result for label, result in results.items() if result is not None}
    to_run = len(plan.runs) - len(results)
    print(
        f'ablate {plan.config}: {len(plan.points)} point(s) x {len(plan.seeds)} seed(s) = '
        f'{len(plan.runs)} run(s), {len(results)} already done -> {plan.work_dir}',
        file=stream,
        flush=True,
    )
    for note in plan.notes:
        print(f'  {note}', file=stream)
    for point in plan.points:
        params, flops = plan.complexity[point.name]
        sets = ' '.join(f'{k}={_describe(v)}' for k, v in point.options.items()) or '(config)'
        flops_text = '' if flops is None else f', {flops / 1e9:.4g} GFLOPs'
        print(f'  {point.name}: {sets} ({params / 1e6:.4g}M params{flops_text})', file=stream)
    progress = Progress(len(plan.runs), to_run, stream)
    failed = []
    with _sigterm_interrupts():
        for index, run in enumerate(plan.runs, 1):
            if run.label in results:
                value = results[run.label]['metrics'].get(metric)
                progress.say(index, run, f'done before ({metric} {_fmt(value)}), skipped', False)
                continue
            resuming = osp.exists(osp.join(run.work_dir, 'last_checkpoint'))
            progress.say(index, run, 'resuming from its last checkpoint' if resuming else 'start')
            progress.partial = 0.0
            try:
                result = launch(run, plan.train_length[run.point.name], progress, index, python)
            except RunFailed as err:
                progress.partial, progress.finished = 0.0, progress.finished + 1
                if not keep_going:
                    write_outputs(plan, results, metric, command)
                    raise
                failed.append(str(err))
                progress.say(index, run, f'FAILED: {err}')
                continue
            progress.partial, progress.finished = 0.0, progress.finished + 1
            results[run.label] = result
            value = result['metrics'].get(metric)
            timing = f'train {_hms(result["train_s"])}, test {_hms(result["test_s"])}'
            progress.say(index, run, f'{metric} {_fmt(value)} ({timing})')
            write_outputs(plan, results, metric, command)
    files = write_outputs(plan, results, metric, command, plot=True)
    return {'results': results, 'failed': failed, 'files': files}


def _number(value: Any) -> Any:
    return f'{value:.4f}' if isinstance(value, float) else value


def _fmt(value: Any) -> str:
    return f'{value:.2f}' if isinstance(value, (int, float)) else str(value)


# ------------------------------------------------------------------ aggregate


def aggregate(plan: Plan, results: Mapping[str, dict], metric: str) -> list:
    """One row per point with results: values, n, mean, std, params, flops, time."""
    rows = []
    for point in plan.points:
        runs = [results[r.label] for r in plan.runs if r.point is point and r.label in results]
        if not runs:
            continue
        missing = [r for r in runs if metric not in r['metrics']]
        if missing:
            known = ', '.join(sorted(missing[0]['metrics'])) or 'none'
            raise SweepError(f'--metric {metric}: the test gave no such metric (it gave: {known})')
        values = [float(r['metrics'][metric]) for r in runs]
        mean = sum(values) / len(values)
        std = (
            math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
            if len(values) > 1
            else None
        )
        params, flops = plan.complexity[point.name]
        rows.append(
            {
                'point': point.name,
                'values': point.values(plan.axes),
                'n': len(values),
                'runs': values,
                'mean': mean,
                'std': std,
                'params': params,
                'flops': flops,
                'time_s': sum(r['train_s'] + r['test_s'] for r in runs) / len(runs),
            }
        )
    return rows


def _cell(value: Any) -> str:
    return _describe(value) if not isinstance(value, str) else value


def write_outputs(
    plan: Plan,
    results: Mapping[str, dict],
    metric: str,
    command: Optional[str] = None,
    plot: bool = False,
) -> list:
    """results.csv, runs.csv, results.md (and results.png) in the work dir."""
    rows = aggregate(plan, results, metric)
    baseline = None if plan.baseline is None else read_baseline(plan.baseline, metric)
    labels = [axis.label for axis in plan.axes]
    paths = []
    path = osp.join(plan.work_dir, 'results.csv')
    with atomic_open(path, 'w') as f:
        writer = csv.writer(f)
        writer.writerow(
            ['point', *labels, 'seeds', f'{metric} mean', f'{metric} std', 'params', 'flops']
            + ['time_s']
        )
        for row in rows:
            writer.writerow(
                [row['point'], *map(_cell, row['values']), row['n'], f'{row["mean"]:.4f}']
                + ['' if row['std'] is None else f'{row["std"]:.4f}', row['params']]
                + ['' if row['flops'] is None else row['flops'], f'{row["time_s"]:.1f}']
            )
    paths.append(path)
    path = osp.join(plan.work_dir, 'runs.csv')
    with atomic_open(path, 'w') as f:
        writer = csv.writer(f)
        writer.writerow(['point', *labels, 'seed', metric, 'train_s', 'test_s', 'resumed', 'dir'])
        for run in plan.runs:
            result = results.get(run.label)
            if result is None:
                continue
            writer.writerow(
                [run.point.name, *map(_cell, run.point.values(plan.axes)), run.seed]
                + [_number(result['metrics'].get(metric)), f'{result["train_s"]:.1f}']
                + [f'{result["test_s"]:.1f}', result.get('resumed', False), run.work_dir]
            )
    paths.append(path)
    path = osp.join(plan.work_dir, 'results.md')
    with atomic_open(path, 'w') as f:
        f.write(markdown(plan, rows, metric, command, baseline))
    paths.append(path)
    if plot and rows:
        path = osp.join(plan.work_dir, 'results.png')
        plot_results(plan, rows, metric, path, baseline)
        paths.append(path)
    return paths


def _score(mean: float, std: Optional[float]) -> str:
    return f'{mean:.2f}' + ('' if std is None else f' ± {std:.2f}')


def markdown(
    plan: Plan,
    rows: Sequence[dict],
    metric: str,
    command: Optional[str] = None,
    baseline: Optional[dict] = None,
) -> str:
    """The aggregate table (mean ± std over seeds) as markdown."""
    from se_plugin.analysis.complexity import format_flops, format_params

    seeds = ' '.join(map(str, plan.seeds))
    lines = [f'Config `{plan.config}`, seeds {seeds}.', '']
    if command:
        lines = ['Generated by:', '', '```bash', command, '```', ''] + lines
    header = ['point', *[f'`{a.label}`' for a in plan.axes], f'{metric} (mean ± std)', 'seeds']
    header += ['params (M)', 'FLOPs (G)', 'time / run']
    align = '|---|' + '---|' * len(plan.axes) + '---:|' * (len(header) - 1 - len(plan.axes))
    lines += ['| ' + ' | '.join(header) + ' |', align]
    for row in rows:
        score = _score(row['mean'], row['std'])
        flops = '' if row['flops'] is None else format_flops(row['flops'])
        cells = [row['point'], *[_cell(v) for v in row['values']], score, str(row['n'])]
        cells += [format_params(row['params']), flops, _hms(row['time_s'])]
        lines.append('| ' + ' | '.join(cells) + ' |')
    if baseline is not None:
        lines += [
            '',
            f'Baseline `{baseline["config"]}` ({baseline["n"]} seed(s), from '
            f'`{baseline["dir"]}`): {metric} {_score(baseline["mean"], baseline["std"])}.',
        ]
    return '\n'.join(lines) + '\n'


def _numeric(values: Sequence[Any]) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def plot_results(
    plan: Plan, rows: Sequence[dict], metric: str, path: str, baseline: Optional[dict] = None
) -> None:
    """``metric`` (mean, std error bars) vs the first swept value; a line per other combo.

    A ``baseline`` is a dashed horizontal line (with its std as a band).
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.2), dpi=110)
    ax = fig.add_subplot()
    axis = plan.axes[0] if plan.axes else None
    first = [row['values'][0] if axis else 'config' for row in rows]
    numeric = axis is not None and _numeric(first)
    order = list(dict.fromkeys(first))
    if numeric:
        order.sort()
    series: dict = {}
    for row, x in zip(rows, first):
        key = tuple(row['values'][1:]) if axis else ()
        series.setdefault(key, []).append((x, row))
    for key, items in series.items():
        items.sort(key=lambda item: order.index(item[0]))
        xs = [item[0] if numeric else order.index(item[0]) for item in items]
        ys = [item[1]['mean'] for item in items]
        errs = [item[1]['std'] or 0.0 for item in items]
        label = ', '.join(f'{a.label}={_cell(v)}' for a, v in zip(plan.axes[1:], key))
        label = label or osp.splitext(osp.basename(plan.config))[0]
        ax.errorbar(xs, ys, yerr=errs if any(errs) else None, marker='o', capsize=3, label=label)
        for x, y in zip(xs, ys):
            ax.annotate(f'{y:.2f}', (x, y), textcoords='offset points', xytext=(5, 3),
                        ha='left', va='bottom', fontsize=8)  # fmt: skip
    if numeric:
        positive = all(v > 0 for v in order)
        if positive and max(order) / min(order) >= 8:
            ax.set_xscale('log', base=2)
        ax.set_xticks(order)
        ax.set_xticklabels([_cell(v) for v in order])
    else:
        ax.set_xticks(range(len(order)))
        ax.set_xticklabels([_cell(v) for v in order], rotation=15 if len(order) > 4 else 0)
    ax.set_xlabel(axis.key if axis else '')
    ax.set_ylabel(f'{metric} (test)')
    seeds = len(plan.seeds)
    ax.set_title(
        f'{osp.basename(plan.config)}: {seeds} seed{"s" if seeds > 1 else ""}'
        + (', mean ± std' if seeds > 1 else ''),
        fontsize=10,
    )
    ax.margins(x=0.08, y=0.15)
    ax.grid(alpha=0.3)
    if baseline is not None:
        name = osp.splitext(osp.basename(baseline['config']))[0]
        label = f'{name}: {_score(baseline["mean"], baseline["std"])}'
        ax.axhline(baseline['mean'], color='0.35', ls='--', lw=1.2, label=label)
        if baseline['std']:
            low, high = baseline['mean'] - baseline['std'], baseline['mean'] + baseline['std']
            ax.axhspan(low, high, color='0.5', alpha=0.12, lw=0)
    if len(series) > 1 or baseline is not None:
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)


# ---------------------------------------------------------------------- worker


def run_point(run_dir: str) -> dict:
    """Train and test the run described by ``run_dir/point.json`` (in this process).

    Training resumes from the run dir's last checkpoint if there is one.
    ``result.json`` is written atomically at the very end.
    """
    from se_plugin.runtime.cli import (
        build_runner,
        load_config,
        prepare_test_config,
        prepare_train_config,
    )

    spec = read_json(osp.join(run_dir, POINT_FILE))
    if spec is None:
        raise FileNotFoundError(f'no readable {POINT_FILE} in {run_dir}')
    options = decode(spec['options'])
    if config_digest(load_config(spec['config'], options)) != spec['config_digest']:
        raise ConfigError(
            f'{spec["config"]} (or a file it inherits) changed since this sweep was planned; '
            'start the sweep again (a finished run keeps its result)'
        )
    # resume only what this dir started: a fresh run keeps the config's load_from
    resumed = osp.exists(osp.join(run_dir, 'last_checkpoint'))
    cfg = prepare_train_config(
        spec['config'],
        work_dir=run_dir,
        resume='auto' if resumed else None,
        no_validate=not spec['validate'],
        cfg_options=options,
    )
    cfg.randomness = dict(cfg.get('randomness') or {}, seed=spec['seed'])
    start = time.monotonic()
    build_runner(cfg).train()
    train_s = time.monotonic() - start
    with open(osp.join(run_dir, 'last_checkpoint')) as f:
        checkpoint = f.read().strip()
    test_cfg = prepare_test_config(
        spec['config'], checkpoint, work_dir=osp.join(run_dir, 'test'), cfg_options=options
    )
    start = time.monotonic()
    metrics = build_runner(test_cfg).test()
    test_s = time.monotonic() - start
    result = {
        'spec': spec,
        'metrics': {
            k: float(v) if isinstance(v, (int, float)) else str(v) for k, v in metrics.items()
        },
        'checkpoint': checkpoint,
        'train_s': train_s,
        'test_s': test_s,
        'resumed': resumed,
        'finished': time.strftime('%Y-%m-%d %H:%M:%S'),
    }
    write_json(osp.join(run_dir, RESULT_FILE), result)
    return result


def _worker_main(argv: Optional[Sequence[str]] = None) -> None:
    from se_plugin.runtime.cli import run_cli

    parser = argparse.ArgumentParser(description='One run of an ablation sweep.')
    parser.add_argument('--point', required=True, help='the run dir (holds point.json)')
    args = parser.parse_args(argv)

    def main():
        import se_plugin  # noqa: F401  (registries, safe checkpoint loading)

        result = run_point(args.point)
        print(f'result: {json.dumps(result["metrics"])}')

    run_cli(main)


__all__ = [
    'Axis',
    'DEFAULT_METRIC',
    'Plan',
    'Point',
    'Run',
    'RunFailed',
    'SweepError',
    'aggregate',
    'decode',
    'encode',
    'execute',
    'grid',
    'parse_sweep',
    'parse_sweeps',
    'parse_value',
    'plan_sweep',
    'plot_results',
    'read_baseline',
    'run_point',
    'shorten_schedule',
    'slug',
    'split_values',
]

if __name__ == '__main__':
    _worker_main()
