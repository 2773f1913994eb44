"""Parameters and FLOPs of the model a config builds, as a markdown table.

What ``tools/analysis/complexity.py`` does. The numbers come from mmengine's
analysis (:func:`mmengine.analysis.get_model_complexity_info` and the
``FlopAnalyzer`` behind it; here the analyzer is called directly, to switch
off its warnings about uncounted operators and to skip the activation count):

* **params**: every parameter of the built model (for a classifier: backbone,
  neck and head).
* **FLOPs**: at batch size 1 in eval mode, one multiply-add = one FLOP.
  mmengine/fvcore count convolutions, linear / matrix products, norms and
  adaptive average pooling; :mod:`se_plugin.analysis.flop_handles` adds what
  they skip and attention computes (the squeeze reductions, the channel
  scaling, SK's path sum, the residual additions, pooling windows), so
  every attention module's cost is in its row. Pointwise nonlinearities
  (relu, sigmoid, softmax, ...) are not counted, as in mmengine. The SENet and
  SKNet papers count multiply-adds of the convolutions and FC layers.
  ``attention_ops=False`` gives mmengine's own count.

The input size is the config's test-time image size (the last crop or resize
of its test pipeline, else of its train pipeline), with as many channels as
the data preprocessor normalises; ``shape`` overrides it.
"""

from __future__ import annotations

import os.path as osp
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

import torch
from mmengine.config import Config

from se_plugin.analysis.flop_handles import install

COUNTING_NOTE = (
    'Counting convention: params are all parameters of the built model (head included); '
    'FLOPs for one image in eval mode, one multiply-add = 1 FLOP: mmengine.analysis counts '
    '(convolutions, linear layers, norms, average pooling) plus the element-wise arithmetic '
    'and reductions they skip (SE/SK squeeze and scaling, residual additions, pooling '
    'windows); pointwise nonlinearities (relu, sigmoid, softmax) are not counted.'
)

# transform type -> (argument holding the size, order of a pair: 'wh' or 'hw')
_SIZE_TRANSFORMS = {
    'CenterCrop': ('crop_size', 'wh'),
    'EfficientNetCenterCrop': ('crop_size', 'wh'),
    'RandomCrop': ('crop_size', 'hw'),
    'RandomResizedCrop': ('scale', 'wh'),
    'EfficientNetRandomCrop': ('scale', 'wh'),
    'Resize': ('scale', 'wh'),
    'ResizeEdge': ('scale', 'wh'),  # one edge only: assumes square images
}


@dataclass
class Complexity:
    """The complexity of one config's model."""

    config: str
    model: str
    input_shape: tuple
    params: int
    flops: int
    uncounted: dict = field(default_factory=dict)

    @property
    def params_m(self) -> float:
        return self.params / 1e6

    @property
    def flops_g(self) -> float:
        return self.flops / 1e9


def _type_name(cfg: Mapping) -> str:
    name = cfg.get('type', '')
    name = name if isinstance(name, str) else getattr(name, '__name__', str(name))
    return name.rsplit('.', 1)[-1]


def _size_of(transform: Mapping) -> Optional[tuple]:
    """(h, w) set by a crop/resize transform, or None."""
    spec = _SIZE_TRANSFORMS.get(_type_name(transform))
    if spec is None:
        return None
    value = transform.get(spec[0])
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return (value, value)
    if (
        isinstance(value, (list, tuple))
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        return (value[1], value[0]) if spec[1] == 'wh' else (value[0], value[1])
    return None


def _pipelines(cfg: Config, loader: str) -> list:
    """The pipelines of a dataloader's dataset and the datasets it wraps."""
    found = []
    loader_cfg = cfg.get(loader)
    stack = [loader_cfg.get('dataset')] if isinstance(loader_cfg, Mapping) else []
    while stack:
        dataset = stack.pop(0)
        if not isinstance(dataset, Mapping):
            continue
        if isinstance(dataset.get('pipeline'), (list, tuple)):
            found.append(dataset['pipeline'])
        stack.append(dataset.get('dataset'))
        stack.extend(dataset.get('datasets') or ())
    return found


def input_channels(cfg: Config) -> int:
    """Image channels: as many as the data preprocessor normalises (else the backbone's)."""
    for preprocessor in (
        cfg.get('data_preprocessor'),
        cfg.get('model', {}).get('data_preprocessor'),
    ):
        if isinstance(preprocessor, Mapping) and isinstance(preprocessor.get('mean'), Sequence):
            return len(preprocessor['mean'])
    backbone = cfg.get('model', {}).get('backbone')
    if isinstance(backbone, Mapping) and isinstance(backbone.get('in_channels'), int):
        return backbone['in_channels']
    return 3


def input_shape_from_config(cfg: Config, name: str = 'the config') -> tuple:
    """``(C, H, W)`` of one test image: the last crop/resize of the test pipeline.

    Falls back on the validation, then the training pipeline (MNIST-5k tests
    the digits as they are, 28x28, and trains on 28x28 random crops).

    Raises:
        ValueError: no pipeline sets a size; pass the shape explicitly.
    """
    pipelines = []
    for phase in ('test', 'val', 'train'):
        pipelines += _pipelines(cfg, f'{phase}_dataloader')
        if isinstance(cfg.get(f'{phase}_pipeline'), (list, tuple)):
            pipelines.append(cfg.get(f'{phase}_pipeline'))
    for pipeline in pipelines:
        sizes = [s for s in map(_size_of, pipeline) if isinstance(s, tuple)]
        if sizes:
            return (input_channels(cfg), *sizes[-1])
    raise ValueError(
        f'cannot tell the input size of {name}: no crop or resize in its pipelines; '
        'pass --shape H W (or C H W)'
    )


def parse_shape(values: Optional[Sequence[int]], channels: int = 3) -> Optional[tuple]:
    """``--shape`` as ``(C, H, W)``: ``S`` (square), ``H W`` or ``C H W``."""
    if values is None:
        return None
    values = tuple(values)
    if not 1 <= len(values) <= 3 or not all(
        isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in values
    ):
        raise ValueError(f'--shape takes 1 to 3 positive ints (S, H W or C H W), got {values}')
    if len(values) == 1:
        return (channels, values[0], values[0])
    if len(values) == 2:
        return (channels, *values)
    return values


def resolve_input_shape(
    cfg: Config, shape: Optional[Sequence[int]] = None, name: str = 'the config'
) -> tuple:
    """``(C, H, W)``: ``shape`` (``--shape``) if given, else read from the config."""
    return parse_shape(shape, input_channels(cfg)) or input_shape_from_config(cfg, name)


def build_model(cfg: Config) -> torch.nn.Module:
    """The config's model, built in its ``default_scope`` (as the Runner builds it):
    :func:`se_plugin.models.builder.build_config_model`."""
    from se_plugin.models.builder import build_config_model

    return build_config_model(cfg)


def model_complexity(
    model: torch.nn.Module, input_shape: Sequence[int], attention_ops: bool = True
) -> tuple:
    """``(params, flops, uncounted)`` of ``model`` for one ``input_shape`` image.

    ``flops`` is what :func:`mmengine.analysis.get_model_complexity_info`
    reports as ``'flops'``, plus (``attention_ops=True``) the operators of
    :data:`~se_plugin.analysis.flop_handles.EXTRA_HANDLES`; ``uncounted``
    maps the operators neither counts nor deliberately ignores to how often
    they ran (empty for every config of this project).
    """
    from mmengine.analysis import FlopAnalyzer, parameter_count

    model.eval()  # own line: mmpretrain's ResNet.train() returns None
    first = next(iter([*model.parameters(), *model.buffers()]), None)
    device = first.device if first is not None else torch.device('cpu')  # SimAM has none
    inputs = (torch.randn(1, *input_shape, device=device),)
    with torch.no_grad():
        analyzer = FlopAnalyzer(model, inputs)
        analyzer.unsupported_ops_warnings(False)
        analyzer.uncalled_modules_warnings(False)
        if attention_ops:
            install(analyzer)
        flops = int(analyzer.total())
        uncounted = dict(analyzer.unsupported_ops())
    return int(parameter_count(model)['']), flops, uncounted


def model_name(cfg: Config) -> str:
    """A short description of the config's backbone, e.g. ``SEResNet-50 (SE r=16)``.

    ``stage_blocks`` replace the depth by the blocks per stage
    (``SEResNeXt[2-2-2-2]-D 32x4d``); ``-D`` / ``-T`` mark the ResNet-D deep
    stem / timm's tiered deep stem with average-pool shortcuts.
    """
    model = cfg.get('model') or {}
    backbone = model.get('backbone') if isinstance(model.get('backbone'), Mapping) else model
    name = _type_name(backbone) or _type_name(model) or '?'
    blocks = backbone.get('stage_blocks')
    if isinstance(blocks, (list, tuple)):
        name += f'[{"-".join(str(b) for b in blocks)}]'
    elif isinstance(backbone.get('depth'), int):
        name += f'-{backbone["depth"]}'
    elif isinstance(backbone.get('arch'), (str, int)):
        name += f'-{backbone["arch"]}'
    if backbone.get('deep_stem') and backbone.get('avg_down'):
        # the ResNet-D stem and shortcut (Bag of Tricks, timm's "d" models), or timm's "t"
        name += '-T' if backbone.get('deep_stem_channels') else '-D'
    groups, width = backbone.get('groups'), backbone.get('width_per_group')
    if isinstance(groups, int) and groups > 1 and isinstance(width, int):
        name += f' {groups}x{width}d'
    notes = []
    attn_cfg = backbone.get('attn_cfg')
    if isinstance(attn_cfg, Mapping) and _type_name(attn_cfg) == 'SELayer':
        ratio = attn_cfg.get('ratio', 16)
        stages = backbone.get('attn_stages')
        on = [str(i + 1) for i, flag in enumerate(stages or ()) if flag]
        where = (
            '' if not stages or all(stages) else f' in stage{"s" * (len(on) > 1)} {",".join(on)}'
        )
        notes.append(f'SE r={ratio}{where}')
    elif isinstance(attn_cfg, Mapping):
        notes.append(_type_name(attn_cfg))
    if _type_name(backbone) == 'SKNet':
        notes.append(f'SK M={backbone.get("num_paths", 2)} r={backbone.get("sk_ratio", 16)}')
    elif 'attn_cfg' in backbone and attn_cfg is None:
        notes.append('no attention')
    if backbone.get('anti_alias'):
        notes.append('anti-aliased')
    notes += {'conv': ['conv stem pool'], 'max_ceil': ['Caffe stem pool']}.get(
        backbone.get('stem_pool'), []
    )
    return f'{name} ({", ".join(notes)})' if notes else name


def config_complexity(
    config: str,
    shape: Optional[Sequence[int]] = None,
    cfg_options: Optional[Mapping[str, Any]] = None,
) -> Complexity:
    """Build ``config``'s model and count its parameters and FLOPs.

    Args:
        config: Path of the config file.
        shape: ``--shape`` (S, H W or C H W); None reads it from the config.
        cfg_options: ``--cfg-options`` merged into the config (keys checked).
    """
    from se_plugin.cli import load_config

    cfg = load_config(config, cfg_options)
    input_shape = resolve_input_shape(cfg, shape, config)
    model = build_model(cfg)
    params, flops, uncounted = model_complexity(model, input_shape)
    return Complexity(config, model_name(cfg), tuple(input_shape), params, flops, uncounted)


def format_params(params: int) -> str:
    """Millions: 2 decimals from 10M up, 3 below (small models differ in the third)."""
    return f'{params / 1e6:.2f}' if params >= 1e7 else f'{params / 1e6:.3f}'


def format_flops(flops: int) -> str:
    """Billions: 3 decimals from 1G up, 4 below."""
    return f'{flops / 1e9:.3f}' if flops >= 1e9 else f'{flops / 1e9:.4f}'


def markdown_table(rows: Sequence[Complexity]) -> str:
    """The rows as a markdown table: config, model, input, params (M), FLOPs (G)."""
    lines = [
        '| config | model | input | params (M) | FLOPs (G) |',
        '|---|---|---|---:|---:|',
    ]
    for row in rows:
        shape = 'x'.join(map(str, row.input_shape))
        lines.append(
            f'| `{osp.normpath(row.config)}` | {row.model} | {shape} | '
            f'{format_params(row.params)} | {format_flops(row.flops)} |'
        )
    return '\n'.join(lines) + '\n'


def report(rows: Sequence[Complexity], command: Optional[str] = None) -> str:
    """The markdown document ``--out`` writes: command, table, counting convention."""
    head = f'Generated by:\n\n```bash\n{command}\n```\n\n' if command else ''
    return f'{head}{markdown_table(rows)}\n{COUNTING_NOTE}\n'


__all__ = [
    'COUNTING_NOTE',
    'Complexity',
    'build_model',
    'config_complexity',
    'format_flops',
    'format_params',
    'input_channels',
    'input_shape_from_config',
    'markdown_table',
    'model_complexity',
    'model_name',
    'parse_shape',
    'report',
    'resolve_input_shape',
]
