"""Anti-aliased downsampling: a stride-1 layer followed by a low-pass pool that strides.

timm's ``aa`` models (``seresnetaa50d``, ``seresnextaa101d_32x8d``, ...) build
their ResNets with ``aa_layer=nn.AvgPool2d``: the stem's 3x3 max pool becomes a
2x2 average pool, and each stride-2 block runs its strided 3x3 conv (the
bottleneck's ``conv2``, the basic block's ``conv1``) at stride 1 and averages
2x2 windows after that conv's activation (Zhang, "Making Convolutional Networks
Shift-Invariant Again", arXiv 1904.11486, with the box filter). The pool has no
parameters, so state-dict keys do not change.
"""

from __future__ import annotations

from typing import Optional

import torch.nn as nn

from se_plugin.checks import check_choice, check_int

#: the low-pass filters of ``anti_alias``; None (the default everywhere) means none
ANTI_ALIAS_MODES = ('avg',)


def build_anti_alias(mode: Optional[str], stride: int) -> Optional[nn.Module]:
    """The pool that does a layer's downsampling after it, or None.

    Args:
        mode (str, optional): ``'avg'``: a ``stride x stride`` average pool
            with stride ``stride`` (timm's ``aa_layer=nn.AvgPool2d``). None:
            no anti-aliasing (the layer keeps its stride).
        stride (int): The stride the pool takes over; 1 needs no pool.

    Returns:
        nn.Module | None: ``nn.AvgPool2d(stride, stride, ceil_mode=True)``, or
        None for ``mode=None`` or ``stride=1``. ``ceil_mode=True`` equals
        timm's pool at even sizes and keeps, at odd sizes, the size of the
        ``avg_down`` shortcut (which pools with ``ceil_mode=True`` too).

    Raises:
        TypeError | ValueError: ``mode`` is not None or one of ``ANTI_ALIAS_MODES``.

    Example:
        >>> import torch
        >>> pool = build_anti_alias('avg', 2)
        >>> pool(torch.rand(1, 8, 7, 7)).shape
        torch.Size([1, 8, 4, 4])
        >>> build_anti_alias('avg', 1) is None, build_anti_alias(None, 2) is None
        (True, True)
    """
    mode = check_choice('anti_alias', mode, (None, *ANTI_ALIAS_MODES))
    stride = check_int('stride', stride, minimum=1)
    if mode is None or stride == 1:
        return None
    return nn.AvgPool2d(stride, stride, ceil_mode=True, count_include_pad=False)
