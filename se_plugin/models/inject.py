"""Insert a registered attention module after named submodules of any backbone.

For backbones without an attention slot or a plugin API (mmpretrain's DenseNet,
MobileNet, ...): :func:`inject_attention` finds submodules by name patterns,
builds one attention module per match (``in_channels`` inferred from the match)
and applies it to the match's output through a forward hook. The original
modules and their state-dict keys stay as they are, so pretrained weights of the
plain backbone still load; the attention modules live in one
``injected_attention`` :class:`~mmengine.model.ModuleDict` on the model (keys:
the module names with ``.`` replaced by ``_``), so they are trained, saved,
moved to devices and deep-copied with it.

From a config, the registered builder :func:`AttentionInjected` does the same to
a backbone it builds::

    backbone=dict(
        type='se_plugin.AttentionInjected',
        backbone=dict(type='ResNet', depth=50),
        attention=dict(type='se_plugin.SELayer', ratio=16),
        after=['layer*.*.bn3'],  # the SE-ResNet position: end of each residual branch
    )
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from collections.abc import Sequence
from typing import Optional, Union

import torch.nn as nn
from mmengine.model import ModuleDict
from torch import Tensor
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.conv import _ConvNd

from se_plugin.checks import check_cfg, check_registered, check_slot_channels
from se_plugin.registry import MODELS

INJECTED = 'injected_attention'
"""Name of the ModuleDict that holds the injected attention modules."""


def _patterns(after: Union[str, Sequence[str]]) -> list:
    if isinstance(after, str):
        after = [after]
    if (
        not isinstance(after, (list, tuple))
        or not after
        or not all(isinstance(p, str) and p for p in after)
    ):
        raise TypeError(
            f'after must be a module-name pattern or a non-empty list of them, got {after!r}'
        )
    return list(after)


def _matches(pattern: str, name: str) -> bool:
    """fnmatch (``*`` also crosses dots), or a full regex match for ``re:...``."""
    if pattern.startswith('re:'):
        return re.fullmatch(pattern[3:], name) is not None
    return fnmatch.fnmatchcase(name, pattern)


def _suggest(pattern: str, names: list) -> str:
    close = difflib.get_close_matches(pattern.removeprefix('re:'), names, n=6, cutoff=0.4)
    shown = sorted(close, key=names.index) or names[:6]
    more = '' if len(names) <= len(shown) else f', ... ({len(names)} modules)'
    return ', '.join(repr(n) for n in shown) + more


def match_modules(model: nn.Module, after: Union[str, Sequence[str]]) -> list:
    """Names of the submodules of ``model`` that the patterns ``after`` select.

    A pattern is an :mod:`fnmatch` pattern over the dotted names of
    ``model.named_modules()`` (``'layer*.*.conv3'``; ``*`` also matches dots),
    or a regular expression prefixed with ``re:`` (``'re:layer[34]\\.\\d+\\.bn3'``)
    that must match the whole name. The result is in model order, without
    duplicates. A match may lie inside another (``'layer4'`` and
    ``'layer4.0.conv1'``): each gets its own module.

    Raises:
        ValueError: If a pattern matches nothing (the message lists real names
            close to it).
    """
    patterns = _patterns(after)
    names = [n for n, _ in model.named_modules() if n and n.split('.')[0] != INJECTED]
    selected = set()
    for pattern in patterns:
        hits = [n for n in names if _matches(pattern, n)]
        if not hits:
            raise ValueError(
                f'the pattern {pattern!r} matches no submodule of {type(model).__name__}; '
                f'module names look like: {_suggest(pattern, names)}'
            )
        selected.update(hits)
    ordered = [n for n in names if n in selected]
    return ordered


def infer_channels(module: nn.Module) -> Optional[int]:
    """Channels of the output of ``module``, or None when they cannot be told.

    Convolutions give ``out_channels``, batch norms ``num_features``, group
    norms ``num_channels``; any other module its integer ``out_channels``
    attribute (mmcv ``ConvModule``, mmpretrain residual blocks); an
    ``nn.Sequential`` (a ResNet stage) the channels of its last module.
    """
    if isinstance(module, _ConvNd):
        return module.out_channels
    if isinstance(module, _BatchNorm):
        return module.num_features
    if isinstance(module, nn.GroupNorm):
        return module.num_channels
    channels = getattr(module, 'out_channels', None)
    if isinstance(channels, int) and not isinstance(channels, bool):
        return channels
    if isinstance(module, nn.Sequential) and len(module):
        return infer_channels(module[-1])
    return None


class _ApplyAttention:
    """Forward hook: the module's output through an attention module.

    An object, not a closure, so that ``copy.deepcopy`` of the model copies the
    reference along with the attention module it points to.
    """

    def __init__(self, name: str, attention: nn.Module) -> None:
        self.name = name
        self.attention = attention

    def __call__(self, module: nn.Module, args: tuple, output: Tensor) -> Tensor:
        if not isinstance(output, Tensor):
            raise TypeError(
                f'attention injected after {self.name!r} needs a tensor output, but '
                f'{type(module).__name__} returned {type(output).__name__}'
            )
        return self.attention(output)


def inject_attention(
    model: nn.Module,
    attention: dict,
    after: Union[str, Sequence[str]],
) -> list:
    """Apply a registered attention module to the output of matching submodules.

    One module is built from ``attention`` for every submodule that ``after``
    selects (see :func:`match_modules`), with ``in_channels`` set to that
    submodule's output channels (see :func:`infer_channels`). An
    ``in_channels`` given in ``attention`` must equal them, or is used where
    they cannot be inferred. Each is registered in
    ``model.injected_attention`` and applied by a forward hook on its
    submodule, at every call of that submodule (so pick modules that run
    once per forward: a block's ``bn2``, not its shared ``relu``); the model
    is changed in place.

    Args:
        model (nn.Module): The model (typically a backbone) to change.
        attention (dict): Config of a shape-keeping attention module taking
            ``in_channels`` (mmcv plugin convention), e.g.
            ``dict(type='se_plugin.SELayer', ratio=16)``.
        after (str | Sequence[str]): Module-name patterns (fnmatch, or regex
            with a ``re:`` prefix).

    Returns:
        list[str]: The names of the submodules that got attention.

    Raises:
        ValueError: If a pattern matches nothing, the channels of a match
            cannot be inferred (and ``attention`` gives none) or differ from
            the ``in_channels`` it gives, or a match already has injected
            attention.

    Example:
        >>> import torch
        >>> from mmpretrain.models import ResNet
        >>> from se_plugin.models import inject_attention
        >>> model = ResNet(depth=18)
        >>> inject_attention(model, dict(type='se_plugin.SELayer', ratio=16), 'layer4.*.bn2')
        ['layer4.0.bn2', 'layer4.1.bn2']
        >>> model.injected_attention['layer4_0_bn2'].in_channels
        512
        >>> _ = model.eval()  # mmpretrain's ResNet.train returns None: no chaining
        >>> model(torch.rand(1, 3, 64, 64))[0].shape
        torch.Size([1, 512, 2, 2])
    """
    attention = check_cfg('attention', attention, optional=False)
    check_registered('attention', attention, MODELS, 'attention')
    if isinstance(model, (nn.Sequential, nn.ModuleList, nn.ModuleDict)):
        raise TypeError(
            f'cannot hold injected attention on a bare {type(model).__name__}: its '
            'children are its contents; wrap it in a module first'
        )
    names = match_modules(model, after)
    modules = dict(model.named_modules())
    holder = getattr(model, INJECTED, None)
    if holder is None:
        holder = ModuleDict()
    built = {}
    for name in names:
        key = name.replace('.', '_')
        if key in holder or key in built:
            raise ValueError(f'{name!r} already has injected attention (key {key!r} in {INJECTED})')
        channels = infer_channels(modules[name])
        if channels is None and 'in_channels' not in attention:
            raise ValueError(
                f'cannot infer the output channels of {name!r} '
                f'({type(modules[name]).__name__}: no out_channels, num_features or '
                'num_channels); set them in the attention config, e.g. '
                f'attention=dict({attention}, in_channels=...)'
            )
        where = f'the output channels of {name!r}'
        cfg = check_slot_channels('attention', attention, channels, where)
        built[name] = (key, MODELS.build(cfg))
    # change the model only once everything has been built
    for name, (key, module) in built.items():
        holder[key] = module
        modules[name].register_forward_hook(_ApplyAttention(name, module))
    if getattr(model, INJECTED, None) is None:
        model.add_module(INJECTED, holder)
    return names


@MODELS.register_module()
def AttentionInjected(  # noqa: N802  (a config type name)
    backbone: dict,
    attention: dict,
    after: Union[str, Sequence[str]],
) -> nn.Module:
    """Build ``backbone`` and inject ``attention`` after the modules ``after`` selects.

    A registered builder for configs; the result is the backbone itself (its
    own class, its own state-dict keys plus ``injected_attention.*``), so
    ``init_cfg=dict(type='Pretrained', ...)`` of the inner backbone and its
    checkpoints keep working. ``backbone`` is built in the default scope of
    the caller: ``type='ResNet'`` is mmdet's ResNet inside an mmdet config,
    mmpretrain's in an mmpretrain or se_plugin one.

    Args:
        backbone (dict): Config of the backbone.
        attention (dict): Config of the attention module (see
            :func:`inject_attention`).
        after (str | Sequence[str]): Module-name patterns.

    Example:
        >>> from se_plugin.registry import MODELS
        >>> model = MODELS.build(dict(
        ...     type='se_plugin.AttentionInjected',
        ...     backbone=dict(type='ResNet', depth=50),
        ...     attention=dict(type='se_plugin.SELayer', ratio=16),
        ...     after='layer*.*.bn3'))
        >>> type(model).__name__, len(model.injected_attention)
        ('ResNet', 16)
    """
    backbone = check_cfg('backbone', backbone, optional=False)
    model = MODELS.build(backbone)
    inject_attention(model, attention, after)
    return model
