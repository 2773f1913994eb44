"""Model specs (``se_plugin.SEResNet:depth=50``, ``timm.seresnet50``, a config
file, ...) and the ``images -> logits`` modules they name."""

from __future__ import annotations

import importlib.util
import inspect
import os.path as osp

import torch
import torch.nn as nn

from se_plugin.cli.values import parse_value, split_values
from se_plugin.runtime.logs import quiet_mmengine

from .steps import image_channels

PEER_PREFIXES = ('torchvision', 'timm')


def parse_spec(spec: str) -> tuple[str, dict]:
    """``'name:a=1,b.c=x'`` -> ``('name', {'a': 1, 'b': {'c': 'x'}})``.

    Commas inside brackets or quotes do not split (``strides=(1,2,2,2)``);
    values are read by :func:`se_plugin.cli.values.parse_value`, the grammar
    of ``--cfg-options``.

    Example:
        >>> parse_spec("se_plugin.SEResNet:strides=(1,2,2,2),attn_cfg.impl='reference'")
        ('se_plugin.SEResNet', {'strides': (1, 2, 2, 2), 'attn_cfg': {'impl': 'reference'}})
    """
    name, _, args = spec.partition(':')
    if len(name) == 1 and args[:1] in ('\\', '/'):  # a Windows drive letter
        head, _, args = args.partition(':')
        name = f'{name}:{head}'
    kwargs: dict = {}
    try:
        items = [item.strip() for item in split_values(args)]
    except ValueError as err:
        raise ValueError(f'model spec {spec!r}: {err}') from None
    for item in filter(None, items):
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
        node[leaf] = parse_value(value)
    return name.strip(), kwargs


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
        out = backbone(torch.zeros(1, image_channels(backbone), 64, 64))
    backbone.train(was_training)
    out = out[-1] if isinstance(out, (list, tuple)) else out
    return int(out.shape[1])


def _with_dict_defaults(cfg: dict) -> dict:
    """Complete nested overrides (``attn_cfg.impl=...``) with the constructor's dict defaults.

    An override that names another ``type`` (``attn_cfg.type=se_plugin.ECALayer``)
    replaces the default instead: the default's other keys (SELayer's ``ratio``)
    are arguments of the default's type, not of the new one.
    """
    from se_plugin.registry import MODELS

    cls = MODELS.get(cfg['type'])
    if cls is None:
        raise ValueError(f'no registered model {cfg["type"]!r}')
    defaults = {}  # a subclass's __init__ (SEResNeXt) may pass attn_cfg on in **kwargs
    for klass in cls.__mro__:
        init = klass.__dict__.get('__init__')
        if init is None:
            continue
        for name, param in inspect.signature(init).parameters.items():
            if isinstance(param.default, dict):
                defaults.setdefault(name, param.default)
    out = dict(cfg)
    for name, default in defaults.items():
        value = out.get(name)
        if isinstance(value, dict) and value.get('type', default.get('type')) == default.get(
            'type'
        ):
            out[name] = _merge(default, value)
    return out


def _build_registered(cfg: dict, num_classes: int) -> nn.Module:
    from mmpretrain.models import BaseClassifier

    from se_plugin.models.builder import build_model as build

    cfg = _with_dict_defaults(cfg)
    model = build(cfg)
    if not isinstance(model, BaseClassifier):  # a backbone: add a neck and a head
        model = build(
            dict(
                type='mmpretrain.ImageClassifier',
                backbone=cfg,
                neck=dict(type='GlobalAveragePooling'),
                head=dict(
                    type='LinearClsHead', num_classes=num_classes, in_channels=_feat_dim(model)
                ),
            )
        )
    with quiet_mmengine():
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


def available(spec: str) -> bool:
    """Whether the library a spec needs is importable (timm is optional)."""
    scope = parse_spec(spec)[0].partition('.')[0]
    if scope in PEER_PREFIXES:
        return importlib.util.find_spec(scope) is not None
    return True
