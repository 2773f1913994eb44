"""Reporting: per-point aggregates as CSV, markdown and a plot.

Written to the sweep's work dir after every run (the plot at the end):
``results.csv`` and ``results.md`` (per point: the swept values, metric mean
and sample std over seeds, seeds, params, FLOPs, time per run), ``runs.csv``
(per run) and ``results.png`` (metric vs the first swept key, one line per
value of the other keys). A baseline (a finished one-point sweep) is a row
under the table and a dashed line in the plot.
"""

from __future__ import annotations

import csv
import math
import os.path as osp
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Optional

from se_plugin.runtime.atomic import atomic_open

from .records import SWEEP_FILE, describe, read_json
from .spec import SweepError

if TYPE_CHECKING:
    from .plan import Plan

DEFAULT_METRIC = 'accuracy/top1'


def format_value(value: Any) -> str:
    """A metric value as shown in progress lines (two decimals).

    >>> format_value(97.125), format_value(None)
    ('97.12', 'None')
    """
    return f'{value:.2f}' if isinstance(value, (int, float)) else str(value)


def _number(value: Any) -> Any:
    return f'{value:.4f}' if isinstance(value, float) else value


def _cell(value: Any) -> str:
    return describe(value) if not isinstance(value, str) else value


def _score(mean: float, std: Optional[float]) -> str:
    return f'{mean:.2f}' + ('' if std is None else f' ± {std:.2f}')


def _row(plan: Plan, point, runs: Sequence[dict], metric: str) -> dict:
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
    return {
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


def aggregate(plan: Plan, results: Mapping[str, dict], metric: str) -> list:
    """One row per point with results: values, n, mean, std, params, flops, time."""
    rows = []
    for point in plan.points:
        runs = [results[r.label] for r in plan.runs if r.point is point and r.label in results]
        if runs:
            rows.append(_row(plan, point, runs, metric))
    return rows


def read_baseline(work_dir: str, metric: Optional[str] = None) -> dict:
    """The one point of a finished sweep in ``work_dir``: config, n, and ``metric`` mean/std."""
    sweep = read_json(osp.join(work_dir, SWEEP_FILE))
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


def _write_results_csv(path: str, plan: Plan, rows: Sequence[dict], metric: str) -> None:
    with atomic_open(path, 'w') as f:
        writer = csv.writer(f)
        labels = [axis.label for axis in plan.axes]
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


def _write_runs_csv(path: str, plan: Plan, results: Mapping[str, dict], metric: str) -> None:
    with atomic_open(path, 'w') as f:
        writer = csv.writer(f)
        labels = [axis.label for axis in plan.axes]
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


def write_outputs(
    plan: Plan,
    results: Mapping[str, dict],
    metric: str,
    command: Optional[str] = None,
    plot: bool = False,
) -> list:
    """results.csv, runs.csv, results.md (and results.png) in the work dir; their paths."""
    rows = aggregate(plan, results, metric)
    baseline = None if plan.baseline is None else read_baseline(plan.baseline, metric)
    paths = [osp.join(plan.work_dir, name) for name in ('results.csv', 'runs.csv', 'results.md')]
    _write_results_csv(paths[0], plan, rows, metric)
    _write_runs_csv(paths[1], plan, results, metric)
    with atomic_open(paths[2], 'w') as f:
        f.write(markdown(plan, rows, metric, command, baseline))
    if plot and rows:
        paths.append(osp.join(plan.work_dir, 'results.png'))
        plot_results(plan, rows, metric, paths[-1], baseline)
    return paths


def markdown(
    plan: Plan,
    rows: Sequence[dict],
    metric: str,
    command: Optional[str] = None,
    baseline: Optional[dict] = None,
) -> str:
    """The aggregate table (mean ± std over seeds) as markdown."""
    from se_plugin.analysis.complexity import format_flops, format_params

    from .progress import hms  # a Runner hook's module: imported when a table is made

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
        cells += [format_params(row['params']), flops, hms(row['time_s'])]
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


def _draw_series(ax, plan: Plan, rows: Sequence[dict], first: list, order: list, numeric: bool):
    """One error-bar line per combination of the other axes' values; their count."""
    series: dict = {}
    for row, x in zip(rows, first):
        key = tuple(row['values'][1:]) if plan.axes else ()
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
    return len(series)


def _x_axis(ax, order: list, numeric: bool) -> None:
    if numeric:
        positive = all(v > 0 for v in order)
        if positive and max(order) / min(order) >= 8:
            ax.set_xscale('log', base=2)
        ax.set_xticks(order)
        ax.set_xticklabels([_cell(v) for v in order])
    else:
        # long labels (type names) turn about their right end, so each sits under its point
        labels = [_cell(v) for v in order]
        turn = len(order) > 4 or sum(map(len, labels)) > 60
        ax.set_xticks(range(len(order)))
        ax.set_xticklabels(labels, rotation=30 if turn else 0, ha='right' if turn else 'center')


def _draw_baseline(ax, baseline: dict) -> None:
    name = osp.splitext(osp.basename(baseline['config']))[0]
    label = f'{name}: {_score(baseline["mean"], baseline["std"])}'
    ax.axhline(baseline['mean'], color='0.35', ls='--', lw=1.2, label=label)
    if baseline['std']:
        low, high = baseline['mean'] - baseline['std'], baseline['mean'] + baseline['std']
        ax.axhspan(low, high, color='0.5', alpha=0.12, lw=0)


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
    lines = _draw_series(ax, plan, rows, first, order, numeric)
    _x_axis(ax, order, numeric)
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
        _draw_baseline(ax, baseline)
    if lines > 1 or baseline is not None:
        ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_open(path, 'wb') as f:
        fig.savefig(f, format=osp.splitext(path)[1][1:].lower() or 'png')


__all__ = [
    'DEFAULT_METRIC',
    'aggregate',
    'format_value',
    'markdown',
    'plot_results',
    'read_baseline',
    'write_outputs',
]
