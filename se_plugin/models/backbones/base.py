"""What every se_plugin backbone shares on top of its mmpretrain parent."""

from __future__ import annotations

import torch.nn as nn


class TrainReturnsSelf:
    """Mixin: ``train()`` (and so ``eval()``) returns the module, as torch's does.

    mmpretrain's ``ResNet.train`` and ``DenseNet.train`` return None, which
    breaks ``model.eval()(x)``; put this mixin first in the bases of a backbone.

    Example:
        >>> import torch.nn as nn
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
