"""One builder for the activations and gates of the attention layers."""

from __future__ import annotations

import warnings

import torch.nn as nn
from mmcv.cnn import build_activation_layer


def build_activation(cfg: dict) -> nn.Module:
    """mmcv's :func:`~mmcv.cnn.build_activation_layer`, without HSigmoid's history note.

    mmcv's ``HSigmoid`` warns on every construction that its defaults changed
    in mmcv 1.4.4 (to ``relu6(x + 3) / 6``, timm's and MobileNetV3's hard
    sigmoid, the one these layers want); the note says nothing about the
    layer being built, so it is silenced here, and only here.

    Example:
        >>> build_activation(dict(type='HSigmoid'))
        HSigmoid()
    """
    with warnings.catch_warnings():
        warnings.filterwarnings('ignore', message='In MMCV v1.4.4', category=UserWarning)
        return build_activation_layer(cfg)


__all__ = ['build_activation']
