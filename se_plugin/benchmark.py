"""Speed of models relative to a baseline, measured in one process.

What ``tools/benchmark.py`` does, as functions. A model is named by a spec:

* ``se_plugin.SEResNet:depth=50`` / ``mmpretrain.SEResNet:depth=50``: a
  registered backbone (``key=value`` pairs after ``:``, comma-separated,
  values as Python literals, dotted keys for nested dicts such as
  ``se_cfg.impl='reference'``), wrapped in an ImageClassifier with global
  average pooling and a linear head; a registered classifier is used as it is;
* ``torchvision.resnet50`` (a ``torchvision.models`` builder, same ``:k=v``);
* ``timm.seresnet50`` (``timm.create_model``; timm is optional);
* a config file path (``configs/se_resnet50_imagenet.py``, with the same
  ``:k=v`` overrides, relative to the config's ``model``): its ``model`` is
  built.

Every model is run as ``images -> logits`` on random input (no data
preprocessor). A *train step* is forward, cross-entropy, backward and an SGD
(momentum) step; *inference* is a forward pass under ``torch.inference_mode``.
After warm-up, the models are timed round-robin (A B C A B C ...), so slow
drifts of a shared machine hit all of them alike; each is summarised by its
median, and its ratio to the baseline three ways: the ratio of medians, the
median of the per-round ratios (``paired``) and the ratio of the fastest
rounds (``min``, the least disturbed ones when other jobs share the machine).
For eager train steps it also reports the activation memory autograd keeps
for the backward (:func:`saved_activation_bytes`), an exact count.

Timers: ``wall`` (default) is elapsed time. ``cpu`` is the process's CPU
time, for a single-threaded CPU run on a machine shared with other jobs:
time spent descheduled does not count (cache and memory-bandwidth contention
still do).
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import json
import logging
import os
import os.path as osp
import platform
import statistics
import time
from collections.abc import Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from se_plugin.runtime.atomic import atomic_open

MODES = ('inference', 'train')
PEER_PREFIXES = ('torchvision', 'timm')


@dataclass
class Options:
    """Benchmark settings (the tool's command line)."""

    batch_size: int = 8
    input_size: int = 224
    num_classes: int = 1000
    modes: Sequence[str] = ('inference', 'train')
    channels_last: bool = False
    compile: bool = False
    amp: bool = False
    device: str = 'cpu'
    warmup: int = 2
    repeats: int = 10
    threads: Optional[int] = None
    seed: int = 0
    timer: str = 'wall'


@dataclass
class Result:
    model: str
    mode: str
    params: int
    times_ms: list = field(default_factory=list)
    warmup_s: float = 0.0
    median_ms: float = 0.0
    ratio: Optional[float] = None
    paired_ratio: Optional[float] = None
    min_ratio: Optional[float] = None
    saved_mb: Optional[float] = None


# ----------------------------------------------------------------------------- specs


def _parse_value(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text  # a bare word: a string


def parse_spec(spec: str) -> tuple[str, dict]:
    """``'name:a=1,b.c=x'`` -> ``('name', {'a': 1, 'b': {'c': 'x'}})``.

    Commas inside brackets or quotes do not split (``strides=(1,2,2,2)``).
    """
    name, _, args = spec.partition(':')
    if len(name) == 1 and args[:1] in ('\\', '/'):  # a Windows drive letter
        head, _, args = args.partition(':')
        name = f'{name}:{head}'
    kwargs: dict = {}
    for item in _split_top_level(args):
        key, sep, value = item.partition('=')
        key = key.strip()
        if not sep or not key:
            raise ValueError(f'model spec {spec!r}: expected key=value after ":", got {item!r}')
        node = kwargs
        *parents, leaf = key.split('.')
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ValueError(f'model spec {spec!r}: {part!r} is set twice')
        node[leaf] = _parse_value(value.strip())
    return name.strip(), kwargs


def _split_top_level(text: str) -> list:
    items, depth, quote, start = [], 0, None, 0
    for i, char in enumerate(text):
        if quote:
            quote = None if char == quote else quote
        elif char in '\'"':
            quote = char
        elif char in '([{':
            depth += 1
        elif char in ')]}':
            depth -= 1
        elif char == ',' and depth == 0:
            items.append(text[start:i])
            start = i + 1
    items.append(text[start:])
    return [item for item in (item.strip() for item in items) if item]


def _merge(base: dict, update: dict) -> dict:
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


class LogitsModel(nn.Module):
    """``images -> logits`` for an mmpretrain classifier (no data preprocessor)."""

    def __init__(self, classifier: nn.Module) -> None:
        super().__init__()
        self.classifier = classifier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(x, mode='tensor')


def _feat_dim(backbone: nn.Module) -> int:
    dim = getattr(backbone, 'feat_dim', None)
    if isinstance(dim, int):
        return dim
    was_training = backbone.training
    backbone.eval()
    with torch.no_grad():
        out = backbone(torch.zeros(1, 3, 64, 64))
    backbone.train(was_training)
    out = out[-1] if isinstance(out, (list, tuple)) else out
    return int(out.shape[1])


def _with_dict_defaults(cfg: dict) -> dict:
    """Complete nested overrides (``se_cfg.impl=...``) with the constructor's dict defaults.

    An override naming another ``type`` (``se_cfg.type=se_plugin.SimAM``) replaces
    the default: the default's other keys belong to the default's type.
    """
    from se_plugin.registry import MODELS

    cls = MODELS.get(cfg['type'])
    if cls is None:
        raise ValueError(f'no registered model {cfg["type"]!r}')
    defaults = {}  # a subclass's __init__ (SEResNeXt) may pass se_cfg on in **kwargs
    for klass in cls.__mro__:
        init = klass.__dict__.get('__init__')
        if init is None:
            continue
        for name, param in inspect.signature(init).parameters.items():
            if isinstance(param.default, dict):
                defaults.setdefault(name, param.default)
    out = dict(cfg)
    for name, default in defaults.items():
        override = out.get(name)
        if isinstance(override, dict) and override.get('type', default.get('type')) == default.get(
            'type'
        ):
            out[name] = _merge(default, override)
    return out


@contextmanager
def _quiet_mmengine():
    """Silence mmengine's per-parameter init log while models are built."""
    from mmengine.logging import MMLogger

    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def _build_registered(cfg: dict, num_classes: int) -> nn.Module:
    from mmpretrain.models import BaseClassifier

    from se_plugin.registry import MODELS

    cfg = _with_dict_defaults(cfg)
    model = MODELS.build(cfg)
    if not isinstance(model, BaseClassifier):  # a backbone: add a neck and a head
        model = MODELS.build(
            dict(
                type='mmpretrain.ImageClassifier',
                backbone=cfg,
                neck=dict(type='GlobalAveragePooling'),
                head=dict(
                    type='LinearClsHead', num_classes=num_classes, in_channels=_feat_dim(model)
                ),
            )
        )
    with _quiet_mmengine():
        model.init_weights()
    return LogitsModel(model)


def build_model(spec: str, num_classes: int = 1000) -> nn.Module:
    """The ``images -> logits`` module a spec names (see the module docstring)."""
    name, kwargs = parse_spec(spec)
    if name.endswith('.py'):
        if not osp.isfile(name):
            raise FileNotFoundError(f'config file not found: {name}')
        from mmengine.config import Config

        cfg = Config.fromfile(name)
        if 'model' not in cfg:
            raise ValueError(f'{name} has no model')
        return _build_registered(_merge(cfg.model.to_dict(), kwargs), num_classes)
    scope, dot, type_name = name.partition('.')
    if not dot or not type_name:
        raise ValueError(
            f'model spec {spec!r}: expected SCOPE.NAME (se_plugin.SEResNet, '
            'mmpretrain.ResNeXt, torchvision.resnet50, timm.seresnet50) or a config .py file'
        )
    if scope == 'torchvision':
        import torchvision.models

        builder = getattr(torchvision.models, type_name, None)
        if not callable(builder):
            raise ValueError(f'torchvision.models has no model {type_name!r}')
        return builder(**dict(dict(num_classes=num_classes), **kwargs))
    if scope == 'timm':
        try:
            import timm
        except ImportError:
            raise ValueError(
                f'{spec}: timm is not installed (pip install timm); it is an optional peer'
            ) from None
        if not timm.is_model(type_name):
            raise ValueError(f'timm has no model {type_name!r}')
        return timm.create_model(
            type_name, pretrained=False, **dict(dict(num_classes=num_classes), **kwargs)
        )
    if scope in ('se_plugin', 'mmpretrain', 'mmengine'):
        return _build_registered(dict(kwargs, type=name), num_classes)
    raise ValueError(
        f'model spec {spec!r}: unknown scope {scope!r} (se_plugin, mmpretrain, torchvision, timm, '
        'or a config .py file)'
    )


# ----------------------------------------------------------------------------- timing


def _sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def _autocast(device: torch.device, amp: bool):
    if not amp:
        return nullcontext()
    dtype = torch.float16 if device.type == 'cuda' else torch.bfloat16
    return torch.autocast(device.type, dtype=dtype)


def _batch(opts: Options, device: torch.device) -> tuple:
    """Random images (in the chosen memory format) and labels, the same for every model."""
    gen = torch.Generator().manual_seed(opts.seed)
    shape = (opts.batch_size, 3, opts.input_size, opts.input_size)
    x = torch.randn(shape, generator=gen).to(device)
    y = torch.randint(0, opts.num_classes, (opts.batch_size,), generator=gen).to(device)
    if opts.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return x, y


def make_step(model: nn.Module, mode: str, opts: Options, device: torch.device) -> Callable:
    """A closure running one train step or one inference pass of ``model``."""
    x, y = _batch(opts, device)
    run = torch.compile(model) if opts.compile else model
    model.train(mode == 'train')
    if mode == 'inference':

        def step() -> None:
            with torch.inference_mode(), _autocast(device, opts.amp):
                run(x)

        return step

    optimizer = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with _autocast(device, opts.amp):
            loss = F.cross_entropy(run(x), y)
        loss.backward()
        optimizer.step()

    return step


def saved_activation_bytes(model: nn.Module, opts: Options, device: torch.device) -> int:
    """Bytes autograd keeps for the backward of one training forward (parameters excluded).

    Counted through ``torch.autograd.graph.saved_tensors_hooks``: every
    tensor saved for backward (by built-in ops and by custom
    ``autograd.Function`` alike), each storage once. This is the
    activation memory of a train step, the part attention layers add to;
    it is exact and the same on every run, unlike a timing.
    """
    x, y = _batch(opts, device)
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    saved = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in params:
            saved[storage.data_ptr()] = storage.nbytes()
        return tensor

    model.train()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), _autocast(device, opts.amp):
        loss = F.cross_entropy(model(x), y)
    del loss
    return sum(saved.values())


TIMERS = {'wall': time.perf_counter, 'cpu': time.process_time}


def _timed(step: Callable, device: torch.device, clock: Callable[[], float]) -> float:
    _sync(device)
    start = clock()
    step()
    _sync(device)
    return clock() - start


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
    device = torch.device(opts.device)
    if device.type == 'cuda' and not torch.cuda.is_available():
        raise ValueError('--device cuda: CUDA is not available here')
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
        steps, mode_results = {}, {}
        for name, model in models.items():
            torch.manual_seed(opts.seed)
            steps[name] = make_step(model, mode, opts, device)
            start = time.perf_counter()
            for _ in range(max(opts.warmup, 1)):
                steps[name]()
            _sync(device)
            mode_results[name] = Result(
                name,
                mode,
                sum(p.numel() for p in model.parameters()),
                warmup_s=time.perf_counter() - start,
            )
            if mode == 'train' and not opts.compile:  # compiled graphs save their own way
                saved = saved_activation_bytes(model, opts, device)
                mode_results[name].saved_mb = saved / 2**20
            log(f'[{mode}] warm-up of {name}: {mode_results[name].warmup_s:.1f} s')
        start = time.perf_counter()
        for i in range(opts.repeats):  # round-robin: A B C A B C ...
            for name, step in steps.items():
                mode_results[name].times_ms.append(1e3 * _timed(step, device, TIMERS[opts.timer]))
            elapsed = time.perf_counter() - start
            eta = elapsed / (i + 1) * (opts.repeats - i - 1)
            log(f'[{mode}] round {i + 1}/{opts.repeats}  elapsed {elapsed:.0f} s  eta {eta:.0f} s')
        base = mode_results[names[0]] if baseline else None
        for result in mode_results.values():
            result.median_ms = statistics.median(result.times_ms)
            if base is not None:
                result.ratio = result.median_ms / statistics.median(base.times_ms)
                result.paired_ratio = statistics.median(
                    t / b for t, b in zip(result.times_ms, base.times_ms)
                )
                result.min_ratio = min(result.times_ms) / min(base.times_ms)
            results.append(result)
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


def available(spec: str) -> bool:
    """Whether the library a spec needs is importable (timm is optional)."""
    scope = parse_spec(spec)[0].partition('.')[0]
    if scope in PEER_PREFIXES:
        return importlib.util.find_spec(scope) is not None
    return True


__all__ = [
    'MODES',
    'LogitsModel',
    'Options',
    'Result',
    'available',
    'build_model',
    'describe',
    'environment',
    'make_step',
    'markdown_table',
    'parse_spec',
    'run_benchmark',
    'save_json',
]
