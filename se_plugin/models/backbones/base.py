"""What every se_plugin backbone shares on top of its mmpretrain parent."""

from __future__ import annotations

import functools
import warnings
from typing import Callable

import torch.nn as nn

from se_plugin.models.layers.base import AttentionModule


class TrainReturnsSelf:
    """Mixin: ``train()`` (and so ``eval()``) returns the module, as torch's does.

        mmpretrain's ``ResNet.train`` and ``DenseNet.train`` return None, which
        breaks ``model.eval()(x)``; put this mixin first in the bases of a backbone.

        Example:
            >>> import torch.nn as nn

    from se_plugin.models.layers.base import AttentionModule
            >>> class Broken(nn.Module):
            ...     def train(self, mode=True):
            ...         super().train(mode)
            >>> class Fixed(TrainReturnsSelf, Broken):
            ...     pass
            >>> model = Fixed()
            >>> model.eval() is model, model.training
            (True, False)
    """

    def train(self, mode: bool = True) -> nn.Module:
        super().train(mode)
        return self


# the slot's arguments under their deprecated SE-only names
SE_NAMES = {'se_cfg': 'attn_cfg', 'se_position': 'attn_position', 'se_stages': 'attn_stages'}


def accepts_se_names(init: Callable) -> Callable:
    """Let ``__init__`` of a backbone or block take ``se_cfg`` / ``se_position`` / ``se_stages``.

    They are the deprecated names of ``attn_cfg`` / ``attn_position`` /
    ``attn_stages`` (which hold any attention module): passed on under the new
    names with one ``FutureWarning`` per build (a backbone gives its blocks
    the new names, so they do not warn again). Giving a name in both forms
    is a ValueError; a config whose ``attn_cfg`` a ``--cfg-options
    model.backbone.se_cfg...`` override meets gives it.

    Example:
        >>> import warnings
        >>> from se_plugin.models import SEResNet
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter('always')
        ...     model = SEResNet(18, se_cfg=None)
        >>> model.attn_cfg is None, [str(w.message) for w in caught]
        (True, ['SEResNet: se_cfg is a deprecated name; use attn_cfg (the same value)'])
    """

    @functools.wraps(init)
    def wrapper(self, *args, **kwargs):
        old = [name for name in SE_NAMES if name in kwargs]
        if old:
            owner = type(self).__name__
            for name in old:
                new = SE_NAMES[name]
                if new in kwargs:
                    raise ValueError(
                        f'{owner} got both {name} and {new}; {name} is the deprecated name of '
                        f'{new}: give only {new} (also in --cfg-options overrides, e.g. '
                        f'model.backbone.{new}...)'
                    )
                kwargs[new] = kwargs.pop(name)
            new_names = ', '.join(SE_NAMES[name] for name in old)
            plural = 's' if len(old) > 1 else ''
            warnings.warn(
                f'{owner}: {", ".join(old)} {"are" if plural else "is a"} deprecated '
                f'name{plural}; use {new_names} (the same value{plural})',
                FutureWarning,
                stacklevel=2,
            )
        return init(self, *args, **kwargs)

    return wrapper


def reset_attention(model: nn.Module) -> None:
    """Each slot module's paper init, after a backbone's own init.

    Calls :meth:`~se_plugin.models.layers.AttentionModule.reset_parameters` on
    every :class:`~se_plugin.models.layers.AttentionModule` of ``model``
    without an ``init_cfg`` of its own. Backbones need it where mmengine's
    init does not reach the module after theirs (blocks in ``nn.Sequential``
    stages) and their Kaiming init of every ``Conv2d`` would otherwise be the
    last word (e.g. GCNet's zero-initialised last conv).
    """
    for module in model.modules():
        if isinstance(module, AttentionModule) and module.init_cfg is None:
            module.reset_parameters()
