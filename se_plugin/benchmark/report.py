"""The setting a table was measured in, the markdown table and the JSON file."""

from __future__ import annotations

import json
import os
import platform
from dataclasses import asdict
from typing import Optional

import torch

from se_plugin.runtime.atomic import atomic_open

from .options import Options


def describe(env: dict, opts: Options) -> str:
    """One line: the setting a table was measured in."""
    flags = [
        name
        for name, on in (
            ('channels_last', opts.channels_last),
            ('torch.compile', opts.compile),
            ('amp ' + ('fp16' if opts.device.startswith('cuda') else 'bf16'), opts.amp),
        )
        if on
    ]
    return (
        f'torch {env["torch"]}, {env["device"]}, {env["threads"]} thread(s) of '
        f'{env["cpu_count"]} CPUs, batch {opts.batch_size}, {opts.input_size} px, '
        + (', '.join(flags) if flags else 'eager fp32')
        + f', {opts.timer} time'
    )


def environment(device: Optional[torch.device] = None) -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    cpu = line.split(':', 1)[1].strip()
                    break
    except OSError:
        pass
    device = device or torch.device('cpu')
    name = cpu if device.type == 'cpu' else torch.cuda.get_device_name(device)
    return dict(
        torch=torch.__version__,
        python=platform.python_version(),
        cpu=cpu,
        cpu_count=os.cpu_count(),
        threads=torch.get_num_threads(),
        device=f'{device.type} ({name})',
        load_average=list(os.getloadavg()) if hasattr(os, 'getloadavg') else None,
    )


# ----------------------------------------------------------------------------- output


def markdown_table(report: dict) -> str:
    """The results as a markdown table (one row per model and mode)."""
    has_base = report.get('baseline') is not None
    results = [r if isinstance(r, dict) else asdict(r) for r in report['results']]
    has_saved = any(r.get('saved_mb') is not None for r in results)
    header = ['model', 'mode', 'params (M)', 'median ms', 'min ms']
    if has_base:
        header += ['ratio', 'paired ratio', 'min ratio']
    if has_saved:
        header += ['saved for backward (MiB)']
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    for r in results:
        row = [
            f'`{r["model"]}`',
            r['mode'],
            f'{r["params"] / 1e6:.2f}',
            f'{r["median_ms"]:.1f}',
            f'{min(r["times_ms"]):.1f}',
        ]
        if has_base:
            row += [f'{r["ratio"]:.3f}', f'{r["paired_ratio"]:.3f}', f'{r["min_ratio"]:.3f}']
        if has_saved:
            saved = r.get('saved_mb')
            row.append('' if saved is None else f'{saved:.1f}')
        lines.append('| ' + ' | '.join(row) + ' |')
    return '\n'.join(lines)


def save_json(report: dict, path: str) -> None:
    """Write ``report`` (results as dicts) to ``path``."""
    data = dict(
        report, results=[r if isinstance(r, dict) else asdict(r) for r in report['results']]
    )
    with atomic_open(path, 'w') as f:
        json.dump(data, f, indent=2)
        f.write('\n')
