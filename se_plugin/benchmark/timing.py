"""Timing the models round-robin, and the ratios to the baseline."""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any, Callable, Optional

import torch

from se_plugin.checks import check_device

from .memory import saved_activation_bytes
from .models import build_model
from .options import MODES, Options, Result
from .report import describe, environment
from .steps import _sync, make_step

TIMERS = {'wall': time.perf_counter, 'cpu': time.process_time}


def _timed(step: Callable, device: torch.device, clock: Callable[[], float]) -> float:
    _sync(device)
    start = clock()
    step()
    _sync(device)
    return clock() - start


def _check_options(opts: Options) -> torch.device:
    """Check ``opts`` (and set the thread count); the device to run on."""
    _check_sizes(opts)
    for mode in opts.modes:
        if mode not in MODES:
            raise ValueError(f'mode must be one of {", ".join(MODES)}; got {mode!r}')
    if opts.threads is not None:
        if opts.threads < 1:
            raise ValueError(f'threads must be >= 1, got {opts.threads}')
        torch.set_num_threads(opts.threads)
    if opts.timer not in TIMERS:
        raise ValueError(f'timer must be one of {", ".join(TIMERS)}; got {opts.timer!r}')
    if opts.timer == 'cpu' and (opts.device != 'cpu' or torch.get_num_threads() != 1):
        raise ValueError(
            '--timer cpu (process CPU time) measures a CPU run with --threads 1 only: with more '
            'threads it adds up their busy-waiting, on GPUs it misses the device time'
        )
    return check_device('--device', opts.device)


def _warm_up(models: dict, mode: str, opts: Options, device: torch.device, log: Callable) -> tuple:
    """``(steps, results)`` of one mode: each model's step, run ``warmup`` times."""
    steps, results = {}, {}
    for name, model in models.items():
        torch.manual_seed(opts.seed)
        steps[name] = make_step(model, mode, opts, device)
        start = time.perf_counter()
        for _ in range(max(opts.warmup, 1)):
            steps[name]()
        _sync(device)
        results[name] = Result(
            name,
            mode,
            sum(p.numel() for p in model.parameters()),
            warmup_s=time.perf_counter() - start,
        )
        if mode == 'train' and not opts.compile:  # compiled graphs save their own way
            saved = saved_activation_bytes(model, opts, device)
            results[name].saved_mb = saved / 2**20
        log(f'[{mode}] warm-up of {name}: {results[name].warmup_s:.1f} s')
    return steps, results


def _time_rounds(steps: dict, results: dict, mode: str, opts: Options, device, log) -> None:
    """``repeats`` round-robin rounds (A B C A B C ...) into ``results[name].times_ms``."""
    start = time.perf_counter()
    for i in range(opts.repeats):
        for name, step in steps.items():
            results[name].times_ms.append(1e3 * _timed(step, device, TIMERS[opts.timer]))
        elapsed = time.perf_counter() - start
        eta = elapsed / (i + 1) * (opts.repeats - i - 1)
        log(f'[{mode}] round {i + 1}/{opts.repeats}  elapsed {elapsed:.0f} s  eta {eta:.0f} s')


def _summarise(results: Sequence[Result], base: Optional[Result]) -> None:
    """Each result's median and, with a baseline, its three ratios to it."""
    for result in results:
        result.median_ms = statistics.median(result.times_ms)
        if base is not None:
            result.ratio = result.median_ms / statistics.median(base.times_ms)
            result.paired_ratio = statistics.median(
                t / b for t, b in zip(result.times_ms, base.times_ms)
            )
            result.min_ratio = min(result.times_ms) / min(base.times_ms)


def run_benchmark(
    specs: Sequence[str],
    baseline: Optional[str] = None,
    opts: Optional[Options] = None,
    log: Callable[[str], Any] = print,
) -> dict:
    """Time ``specs`` (and ``baseline``, first) in every mode of ``opts``.

    Returns a JSON-able dict: the environment, the options and one entry per
    (model, mode) with the times, medians and ratios to the baseline.
    """
    opts = opts or Options()
    device = _check_options(opts)
    names = list(dict.fromkeys([baseline, *specs] if baseline else specs))
    if not names:
        raise ValueError('no model to benchmark')
    torch.manual_seed(opts.seed)
    models = {}
    for name in names:
        model = build_model(name, opts.num_classes).to(device)
        if opts.channels_last:
            model = model.to(memory_format=torch.channels_last)
        models[name] = model
    env = environment(device)
    log(f'{describe(env, opts)}; models: {", ".join(names)}')
    results = []
    for mode in opts.modes:
        steps, mode_results = _warm_up(models, mode, opts, device, log)
        _time_rounds(steps, mode_results, mode, opts, device, log)
        _summarise(mode_results.values(), mode_results[names[0]] if baseline else None)
        results.extend(mode_results.values())
        for warning in too_few_rounds(list(mode_results.values()), opts.repeats):
            log(f'warning [{mode}]: {warning}')
        del steps
    return dict(environment=env, options=asdict(opts), baseline=baseline, results=results)


MIN_ROUNDS = 5


def _check_sizes(opts: Options) -> None:
    for name, minimum in (
        ('batch_size', 1),
        ('input_size', 1),
        ('num_classes', 1),
        ('repeats', 1),
        ('warmup', 0),
    ):
        value = getattr(opts, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValueError(f'{name} must be an int >= {minimum}, got {value!r}')


def _spread(ratios: Sequence[float]) -> float:
    """Half the interquartile range of per-round ratios."""
    if len(ratios) < 2:
        return float('inf')
    q1, _, q3 = statistics.quantiles(ratios, n=4, method='inclusive')
    return (q3 - q1) / 2


def too_few_rounds(results: Sequence[Result], repeats: int) -> list:
    """Warnings when the rounds cannot separate the models.

    Under :data:`MIN_ROUNDS` rounds always; otherwise for every pair of models
    whose paired ratios differ by less than the round-to-round spread (half the
    interquartile range of their per-round ratios to the baseline).

    Args:
        results (Sequence[Result]): One mode's results (baseline first).
        repeats (int): The rounds timed.

    Returns:
        list[str]: The warnings (empty when the models are told apart).
    """
    if repeats < MIN_ROUNDS:
        return [f'only {repeats} rounds: too few to separate the models, use --repeats >= 10']
    base = results[0].times_ms
    per_round = {
        r.model: [t / b for t, b in zip(r.times_ms, base)]
        for r in results[1:]
        if r.paired_ratio is not None
    }
    warnings = []
    names = list(per_round)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            gap = abs(statistics.median(per_round[a]) - statistics.median(per_round[b]))
            spread = max(_spread(per_round[a]), _spread(per_round[b]))
            if gap < spread:
                warnings.append(
                    f'{a} and {b} differ by {gap:.3f} in paired ratio, less than the '
                    f'round-to-round spread ({spread:.3f}): more --repeats to separate them'
                )
    return warnings
