"""Building a model from its config: the one helper every tool builds models with.

``tools/benchmark.py`` (model specs), ``tools/convert.py`` (the converted
architecture and its reference weights), ``tools/analysis/*`` and
``tools/export.py`` (a config file's ``model``) all build here, so a model
is built the same way everywhere: from a copy of its config (mmengine's
builders fill in defaults in place) and in a stated registry scope.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, Optional

from torch import nn


def build_model(cfg: Mapping, default_scope: Optional[str] = None) -> nn.Module:
    """The model ``cfg`` describes, built from a copy of ``cfg``.

    Args:
        cfg (Mapping): A model config (``dict(type=..., ...)``); left as it is.
        default_scope (str, optional): Build with mmengine's root ``MODELS``
            in this default scope, as the Runner builds a config's model.
            None builds with se_plugin's registry (the ``se_plugin`` scope: our
            names, and mmpretrain's and mmengine's through the parent chain).
            Default: None.

    Returns:
        nn.Module: The model, with freshly initialised weights.

    Example:
        >>> cfg = dict(type='se_plugin.SELayer', in_channels=16, ratio=4)
        >>> build_model(cfg).fc1.out_channels, cfg
        (8, {'type': 'se_plugin.SELayer', 'in_channels': 16, 'ratio': 4})
    """
    if not isinstance(cfg, Mapping):
        raise TypeError(f'a model config must be a dict, got {type(cfg).__name__}: {cfg!r}')
    cfg = copy.deepcopy(cfg)
    if default_scope is None:
        from se_plugin.registry import MODELS

        return MODELS.build(cfg)
    from mmengine.registry import MODELS, DefaultScope

    import se_plugin  # noqa: F401  (registers the se_plugin modules)

    with DefaultScope.overwrite_default_scope(default_scope):
        return MODELS.build(cfg)


def build_config_model(cfg: Mapping[str, Any]) -> nn.Module:
    """A whole config's ``model`` (with the config's ``data_preprocessor``
    unless the model has its own), built in the config's ``default_scope``
    (``se_plugin`` when it has none), as mmengine's Runner builds it.

    Args:
        cfg (Mapping): A loaded config (``mmengine.Config``).

    Returns:
        nn.Module: The model.
    """
    model_cfg = cfg.get('model')
    if not isinstance(model_cfg, Mapping):
        raise ValueError('the config has no model')
    model_cfg = copy.deepcopy(model_cfg)
    if isinstance(cfg.get('data_preprocessor'), Mapping):
        model_cfg.setdefault('data_preprocessor', copy.deepcopy(cfg['data_preprocessor']))
    return build_model(model_cfg, default_scope=cfg.get('default_scope', 'se_plugin'))


__all__ = ['build_config_model', 'build_model']
