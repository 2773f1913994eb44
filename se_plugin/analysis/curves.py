"""Training curves from mmengine's ``scalars.json`` logs, as one picture.

What ``tools/analysis/plot_curves.py`` does (mmpretrain's ``analyze_logs.py
plot_curve`` for mmengine >= 0.x logs). mmengine's ``LocalVisBackend`` writes
one JSON object per line to ``WORK_DIR/<timestamp>/vis_data/scalars.json``:
training lines carry ``epoch``, ``iter`` and ``step`` (the global iteration)
with ``loss``, ``lr``, ...; validation lines carry the metrics
(``accuracy/top1``) with ``step`` = the epoch (epoch-based training) or the
iteration (iteration-based). A resumed run adds a second timestamp folder;
its lines are read after the first one's.

The x axis is the epoch for epoch-based logs (a training line at global
iteration ``i`` is at ``i / iterations per epoch``) and the iteration
otherwise. Each key gets its own panel; each work dir one line per panel.
"""

from __future__ import annotations

import glob
import json
import os.path as osp
from collections.abc import Sequence
from typing import Optional

from se_plugin.runtime.atomic import atomic_open

DEFAULT_KEYS = ('loss', 'accuracy/top1', 'lr')

__all__ = ['DEFAULT_KEYS', 'curves', 'find_scalars', 'load_scalars', 'plot_curves']


def find_scalars(path: str) -> list:
    """The ``scalars.json`` files of a work dir (oldest run first), a run's folder, or a file.

    Raises:
        FileNotFoundError: Nothing to read there.
    """
    if osp.isfile(path):
        return [path]
    for pattern in ('scalars.json', 'vis_data/scalars.json', '*/vis_data/scalars.json'):
        found = sorted(glob.glob(osp.join(glob.escape(path), pattern)))
        if found:
            return found
    raise FileNotFoundError(
        f'no mmengine scalars.json under {path} (expected {path}/<timestamp>/vis_data/'
        'scalars.json, written by LocalVisBackend)'
    )


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _read_records(file: str) -> list:
    """The JSON objects of one ``scalars.json``, one per line.

    Raises:
        ValueError: The file is not UTF-8 text, a line is not JSON, or a line
            is not a JSON object (naming the file and the line).
    """
    records = []
    try:
        with open(file, encoding='utf-8') as f:
            lines = f.readlines()
    except UnicodeDecodeError:
        raise ValueError(f'{file} is not a scalars.json: not UTF-8 text') from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f'{file} line {number} is not JSON: {err}') from None
        if not isinstance(record, dict):
            raise ValueError(
                f'{file} line {number} is a JSON {type(record).__name__}, not an object: '
                'a scalars.json has one {"step": ..., "<key>": value} object per line'
            )
        records.append(record)
    return records


def load_scalars(path: str) -> list:
    """The records of :func:`find_scalars` ``(path)`` that have a numeric ``step``, in order.

    Raises:
        ValueError: A file is not a scalars.json (see :func:`_read_records`),
            or no record has a numeric ``step``.
    """
    records, files = [], find_scalars(path)
    for file in files:
        records += [r for r in _read_records(file) if _number(r.get('step'))]
    if not records:
        raise ValueError(
            f'no logged scalars in {", ".join(files)}: no line has a numeric "step" '
            '(mmengine LocalVisBackend writes {"step": ..., "<key>": value} per line)'
        )
    return records


def _iters_per_epoch(records: Sequence[dict]) -> Optional[int]:
    """Iterations per epoch: the gap between the first logged iterations of epochs 1
    and 2 (the logger logs the same inner iterations each epoch), else the last
    logged iteration of epoch 1."""
    first = {}
    for r in records:
        epoch, it = r.get('epoch'), r.get('iter')
        if isinstance(epoch, int) and isinstance(it, int) and epoch in (1, 2):
            first.setdefault(epoch, []).append(it)
    if 1 in first and 2 in first:
        gap = min(first[2]) - min(first[1])
        return gap if gap > 0 else None
    return max(first[1]) if 1 in first and max(first[1]) > 0 else None


def curves(records: Sequence[dict], keys: Sequence[str]) -> dict:
    """``{key: (xs, ys)}`` for each key found in ``records``; x in epochs when the
    training lines have ``epoch`` (see the module docstring), else iterations.
    A step logged twice (a resumed run repeats nothing, but a restarted one
    might) keeps its last value."""
    per_epoch = _iters_per_epoch(records)
    found = {}
    for key in keys:
        points = {}
        for record in records:
            value = record.get(key)
            if not _number(value) or not _number(record.get('step')):
                continue
            is_train = _number(record.get('iter'))
            if per_epoch and is_train:
                x = record['iter'] / per_epoch
            else:
                x = record['step']
            points[(is_train, x)] = value
        if points:
            ordered = sorted(points.items(), key=lambda item: item[0][1])
            found[key] = ([x for (_, x), _ in ordered], [y for _, y in ordered])
    return found


def plot_curves(
    work_dirs: Sequence[str],
    out: str,
    keys: Sequence[str] = DEFAULT_KEYS,
    labels: Optional[Sequence[str]] = None,
    title: Optional[str] = None,
) -> dict:
    """Plot ``keys`` of each work dir's logs into ``out`` (PNG, PDF, SVG, ...).

    Args:
        work_dirs (Sequence[str]): Work dirs, run folders or ``scalars.json``
            files; one line each per panel.
        out (str): Picture file.
        keys (Sequence[str]): Logged keys, one panel each; keys that no run
            logged are left out. Default: ('loss', 'accuracy/top1', 'lr').
        labels (Sequence[str], optional): Legend entries, one per work dir.
            Default: the work dirs' folder names.
        title (str, optional): Figure title. Default: None.

    Returns:
        dict: ``{label: {key: (xs, ys)}}``, what was plotted.

    Raises:
        ValueError: A file is not a scalars.json (:func:`load_scalars`), no
            run logged any of ``keys`` (the message lists the keys there are),
            or ``labels`` does not match ``work_dirs``.
    """
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    if not work_dirs:
        raise ValueError('plot_curves needs at least one work dir')
    labels = list(labels) if labels else [osp.basename(osp.normpath(d)) for d in work_dirs]
    if len(labels) != len(work_dirs):
        raise ValueError(f'{len(labels)} labels for {len(work_dirs)} work dirs')
    data, available, epochs = {}, set(), False
    for label, work_dir in zip(labels, work_dirs):
        records = load_scalars(work_dir)
        available.update(k for r in records for k, v in r.items() if _number(v))
        epochs = epochs or _iters_per_epoch(records) is not None
        data[label] = curves(records, keys)
    shown = [k for k in keys if any(k in runs for runs in data.values())]
    if not shown:
        known = ', '.join(sorted(available - {'step', 'epoch', 'iter'})) or 'none'
        raise ValueError(
            f'none of the keys {", ".join(keys)} has a numeric value in {", ".join(work_dirs)}; '
            f'keys with numeric values there: {known}'
        )
    fig, axes = plt.subplots(1, len(shown), figsize=(4.2 * len(shown), 3.4), squeeze=False)
    for ax, key in zip(axes[0], shown):
        for label, runs in data.items():
            if key in runs:
                ax.plot(*runs[key], label=label, marker='o' if len(runs[key][0]) < 30 else None)
        ax.set_title(key)
        ax.set_xlabel('epoch' if epochs else 'iteration')
        ax.grid(alpha=0.3)
        if key == 'lr':
            ax.ticklabel_format(axis='y', style='sci', scilimits=(-2, 2))
    axes[0][0].legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    with atomic_open(out) as f:  # an earlier picture stays whole if saving fails
        fig.savefig(f, dpi=110, format=osp.splitext(out)[1][1:].lower() or None)
    plt.close(fig)
    return data
