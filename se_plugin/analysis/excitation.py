"""Average SE excitation per class (SENet, arXiv 1709.01507, Fig. 6 and 7).

What ``tools/analysis/excitation.py`` does: build the config's model, load a
checkpoint (safely: :func:`se_plugin.runtime.checkpoint.load_checkpoint_file`),
run the config's test dataloader, and record the output of the gate of chosen
:class:`~se_plugin.models.layers.SELayer` modules (the ``(N, C, 1, 1)``
excitation, before it scales the features) through forward hooks on
``layer.gate``; the model is not modified. Per layer the result is the mean
excitation of every class over the channels, a ``(num_classes, C)`` array.

SENet's reading of these curves: in early layers the excitation hardly depends
on the class (shared low-level features), it becomes class-specific with
depth, and in the last blocks it saturates (most values near 1), where SE
matters least.
"""

from __future__ import annotations

import fnmatch
import json
import os
import os.path as osp
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
import torch
from torch import nn

from se_plugin.runtime.atomic import atomic_open


def is_se_layer(module: nn.Module) -> bool:
    """An SE module whose gate output is the excitation (se_plugin's ``SELayer``)."""
    from se_plugin.models.layers import SELayer

    return isinstance(module, SELayer) and isinstance(getattr(module, 'gate', None), nn.Module)


def se_layer_names(model: nn.Module) -> list:
    """Names of the model's SE layers, in forward (registration) order."""
    return [name for name, module in model.named_modules() if name and is_se_layer(module)]


def _stage(name: str) -> str:
    """The stage of a block's module: the name up to its first numeric part.

    >>> _stage('backbone.layer3.5.attn')
    'backbone.layer3'
    """
    parts = name.split('.')
    for i, part in enumerate(parts):
        if part.isdigit():
            return '.'.join(parts[:i])
    return '.'.join(parts[:-1])


def default_layers(names: Sequence[str]) -> list:
    """The last SE layer of the first, the middle and the last stage.

    For a 4-stage ResNet: ``layer1``, ``layer3`` and ``layer4`` (SENet's SE_2_x,
    SE_4_x and SE_5_x).

    >>> names = [f'backbone.layer{s}.{b}.attn' for s in (1, 2, 3, 4) for b in (0, 1)]
    >>> default_layers(names)
    ['backbone.layer1.1.attn', 'backbone.layer3.1.attn', 'backbone.layer4.1.attn']
    """
    stages: dict = {}
    for name in names:
        stages.setdefault(_stage(name), []).append(name)
    keys = list(stages)
    if not keys:
        return []
    picks = dict.fromkeys([keys[0], keys[len(keys) // 2], keys[-1]])
    return [stages[key][-1] for key in picks]


def select_layers(names: Sequence[str], wanted: Optional[Sequence[str]]) -> list:
    """Resolve ``--layers``: exact names, unique dotted suffixes or globs.

    >>> names = ['backbone.layer1.0.attn', 'backbone.layer1.1.attn', 'backbone.layer2.0.attn']
    >>> select_layers(names, ['layer1.1.attn', 'backbone.layer2.*'])
    ['backbone.layer1.1.attn', 'backbone.layer2.0.attn']
    """
    if not names:
        raise ValueError('the model has no SELayer: nothing to record (is attn_cfg None?)')
    if not wanted:
        return default_layers(names)
    chosen = []
    for pattern in wanted:
        if pattern in names:
            found = [pattern]
        elif any(c in pattern for c in '*?['):
            found = [n for n in names if fnmatch.fnmatchcase(n, pattern)]
        else:
            found = [n for n in names if n.endswith('.' + pattern)]
            if len(found) > 1:
                raise ValueError(
                    f'--layers {pattern}: matches {len(found)} SE layers ({", ".join(found[:4])}'
                    f'{", ..." if len(found) > 4 else ""}); give more of the name'
                )
        if not found:
            shown = ', '.join(names[:6]) + (
                f', ... ({len(names)} in all)' if len(names) > 6 else ''
            )
            raise ValueError(f'--layers {pattern}: no such SE layer; the model has {shown}')
        chosen += [n for n in found if n not in chosen]
    return chosen


@dataclass
class Excitations:
    """Mean excitation per class of each recorded layer."""

    layers: list
    means: dict  # layer -> (num_classes, C) float64; NaN rows for classes never seen
    counts: np.ndarray  # (num_classes,) images per class
    classes: list

    def overall(self, layer: str) -> np.ndarray:
        """The mean over all images, ``(C,)``."""
        seen = self.counts > 0
        return (self.means[layer][seen] * self.counts[seen, None]).sum(0) / self.counts.sum()

    def stats(self, layer: str) -> dict:
        """Numbers behind SENet's reading of the curves, over the classes seen.

        ``mean``: the average excitation; ``class_spread``: the std across
        classes of the class means, averaged over channels (0 when the layer is
        class-agnostic), ``max_class_spread`` its largest channel;
        ``saturated``: the fraction of channels whose mean is above 0.95.
        """
        means = self.means[layer][self.counts > 0]
        spread = means.std(0)
        return {
            'mean': float(self.overall(layer).mean()),
            'class_spread': float(spread.mean()),
            'max_class_spread': float(spread.max()),
            'saturated': float((self.overall(layer) > 0.95).mean()),
        }


class ExcitationRecorder:
    """Forward hooks on ``layer.gate`` summing the excitation per class.

    Use as a context manager (the hooks are removed on exit); set
    :attr:`labels` to the batch's labels before each forward pass.
    """

    def __init__(self, model: nn.Module, layers: Sequence[str], num_classes: int):
        modules = dict(model.named_modules())
        self.layers = list(layers)
        self.num_classes = num_classes
        self.sums: dict = {}
        self.counts = torch.zeros(num_classes, dtype=torch.float64)
        self.labels: Optional[torch.Tensor] = None
        self._handles = []
        for name in self.layers:
            gate = modules[name].gate
            self._handles.append(gate.register_forward_hook(self._hook(name)))

    def _hook(self, name: str):
        def hook(module, inputs, output):
            if self.labels is None:
                return
            weight = output.detach().flatten(1).to('cpu', torch.float64)
            if weight.shape[0] != self.labels.shape[0]:
                raise RuntimeError(f'{name}: {weight.shape[0]} excitations for '
                                   f'{self.labels.shape[0]} labels')  # fmt: skip
            total = self.sums.setdefault(
                name, torch.zeros(self.num_classes, weight.shape[1], dtype=torch.float64)
            )
            total.index_add_(0, self.labels, weight)

        return hook

    def count(self, labels: torch.Tensor) -> None:
        self.labels = labels.to('cpu', torch.long)
        self.counts += torch.bincount(self.labels, minlength=self.num_classes).double()

    def result(self, classes: Sequence[str]) -> Excitations:
        counts = self.counts.numpy()
        with np.errstate(invalid='ignore', divide='ignore'):
            means = {n: self.sums[n].numpy() / counts[:, None] for n in self.layers}
        return Excitations(self.layers, means, counts.astype(np.int64), list(classes))

    def __enter__(self) -> ExcitationRecorder:
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()


def collect(
    model: nn.Module,
    dataloader: Any,
    layers: Sequence[str],
    num_classes: int,
    classes: Sequence[str],
    max_samples: Optional[int] = None,
) -> Excitations:
    """Run ``dataloader`` through ``model`` (eval, no grad) recording the excitations."""
    model.eval()  # own line: mmpretrain's ResNet.train() returns None
    seen = 0
    with ExcitationRecorder(model, layers, num_classes) as recorder, torch.no_grad():
        for data in dataloader:
            if max_samples is not None and seen >= max_samples:
                break
            data = model.data_preprocessor(data, False)
            inputs, samples = data['inputs'], data['data_samples']
            labels = torch.cat([sample.gt_label.reshape(-1)[:1] for sample in samples])
            if max_samples is not None:
                inputs, labels = inputs[: max_samples - seen], labels[: max_samples - seen]
            recorder.count(labels)
            model(inputs, mode='tensor')
            seen += len(labels)
        return recorder.result(classes)


def load_weights(model: nn.Module, checkpoint: str) -> None:
    """Load a checkpoint's ``state_dict`` into ``model`` (strict), with clear errors."""
    from se_plugin.runtime.checkpoint import CheckpointError, load_checkpoint_file

    data = load_checkpoint_file(checkpoint, map_location='cpu')
    state = data.get('state_dict', data) if isinstance(data, Mapping) else None
    if not isinstance(state, Mapping) or not all(torch.is_tensor(v) for v in state.values()):
        raise CheckpointError(f'{checkpoint} holds no state_dict of tensors')
    state = {re.sub(r'^module\.', '', k): v for k, v in state.items()}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        first = ' '.join(str(err).split())[:400]
        raise CheckpointError(f"{checkpoint} does not fit the config's model: {first}") from None


def _file_name(layer: str) -> str:
    return re.sub(r'[^A-Za-z0-9._-]+', '_', layer)


def plot_layer(ax, result: Excitations, layer: str, classes: Sequence[int]) -> None:
    """One axes: a line per class over the channel index, plus the mean of all images."""
    means = result.means[layer]
    channels = np.arange(means.shape[1])
    cmap = _colors(len(classes))
    for color, index in zip(cmap, classes):
        ax.plot(channels, means[index], lw=0.9, color=color, label=str(result.classes[index]))
    ax.plot(channels, result.overall(layer), 'k--', lw=1.2, label='all')
    ax.set_title(layer, fontsize=9)
    ax.set_xlabel('channel index', fontsize=8)
    ax.set_ylabel('mean excitation', fontsize=8)
    ax.set_xlim(0, max(len(channels) - 1, 1))
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)


def _colors(n: int) -> list:
    from matplotlib import colormaps

    cmap = colormaps['tab10' if n <= 10 else 'tab20']
    return [cmap(i % cmap.N) for i in range(n)]


def save(
    result: Excitations, out_dir: str, classes: Optional[Sequence[int]] = None, title: str = ''
) -> list:
    """``<layer>.npy`` (num_classes x C), ``<layer>.png``, ``excitation.png``, ``summary.json``."""
    from matplotlib.figure import Figure

    os.makedirs(out_dir, exist_ok=True)
    if classes is None:
        seen = [int(i) for i in np.flatnonzero(result.counts)]
        classes = seen[:10]
    files = []
    for layer in result.layers:
        path = osp.join(out_dir, f'{_file_name(layer)}.npy')
        np.save(path, result.means[layer].astype(np.float32))
        files.append(path)
        fig = Figure(figsize=(6.4, 3.6), dpi=110)
        ax = fig.add_subplot()
        plot_layer(ax, result, layer, classes)
        ax.legend(fontsize=7, ncol=2, loc='best')
        fig.tight_layout()
        path = osp.join(out_dir, f'{_file_name(layer)}.png')
        fig.savefig(path)
        files.append(path)
    n = len(result.layers)
    fig = Figure(figsize=(4.2 * n, 3.6), dpi=110)
    axes = [fig.add_subplot(1, n, i + 1) for i in range(n)]
    for ax, layer in zip(axes, result.layers):
        plot_layer(ax, result, layer, classes)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc='center right', fontsize=8, title='class')
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0, 1 - 0.6 / (4.2 * n), 1))
    path = osp.join(out_dir, 'excitation.png')
    fig.savefig(path)
    files.append(path)
    summary = {
        'layers': result.layers,
        'classes': result.classes,
        'counts': result.counts.tolist(),
        'plotted_classes': list(classes),
        'arrays': {layer: f'{_file_name(layer)}.npy' for layer in result.layers},
        'stats': {layer: result.stats(layer) for layer in result.layers},
        'note': 'each array is (num_classes, channels): the mean gate output per class',
    }
    path = osp.join(out_dir, 'summary.json')
    with atomic_open(path, 'w') as f:
        json.dump(summary, f, indent=2)
    files.append(path)
    return files


def analyze(
    config: str,
    checkpoint: str,
    out_dir: str,
    layers: Optional[Sequence[str]] = None,
    classes: Optional[Sequence[int]] = None,
    max_samples: Optional[int] = None,
    cfg_options: Optional[Mapping[str, Any]] = None,
    device: Optional[str] = None,
) -> tuple:
    """The whole tool: ``(Excitations, files written)``."""
    from mmengine.registry import DefaultScope
    from mmengine.runner import Runner

    from se_plugin.analysis.complexity import build_model
    from se_plugin.cli import (
        ConfigError,
        apply_env,
        check_checkpoint_path,
        check_data_roots,
        load_config,
    )

    cfg = load_config(config, cfg_options)
    check_checkpoint_path(checkpoint)
    if cfg.get('test_dataloader') is None:
        raise ConfigError(f'{config} has no test_dataloader: nothing to run')
    check_data_roots(cfg, ['test_dataloader'])
    if max_samples is not None and max_samples < 1:
        raise ValueError(f'--max-samples must be >= 1, got {max_samples}')
    apply_env(cfg)
    model = build_model(cfg)
    available = se_layer_names(model)
    chosen = select_layers(available, layers)
    load_weights(model, checkpoint)
    device = device or ('cuda' if torch.cuda.is_available() else 'cpu')
    model.to(device)
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope', 'se_plugin')):
        loader = Runner.build_dataloader(cfg.test_dataloader)
    names = list(loader.dataset.metainfo.get('classes') or [])
    num_classes = len(names) or int(cfg.model.get('head', {}).get('num_classes', 0))
    if not num_classes:
        raise ConfigError(f'{config}: cannot tell the number of classes')
    names = names or [str(i) for i in range(num_classes)]
    if classes is not None:
        bad = [c for c in classes if not 0 <= c < num_classes]
        if bad:
            raise ValueError(f'--classes {bad}: class indices are 0..{num_classes - 1}')
    result = collect(model, loader, chosen, num_classes, names, max_samples)
    title = f'{osp.basename(config)}: mean excitation per class ({int(result.counts.sum())} images)'
    return result, save(result, out_dir, classes, title)


__all__ = [
    'ExcitationRecorder',
    'Excitations',
    'analyze',
    'collect',
    'default_layers',
    'load_weights',
    'save',
    'se_layer_names',
    'select_layers',
]
