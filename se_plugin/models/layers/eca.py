"""Efficient Channel Attention (Wang et al., ECA-Net, CVPR 2020, arXiv 1910.03151).

SE without the bottleneck: the pooled channel descriptor goes through one 1-D
convolution of ``k`` taps across neighbouring channels (no dimensionality
reduction, ``k`` weights in all), then the gate.
"""

from __future__ import annotations

import math
from typing import Optional, Union

from torch import Tensor, nn

from se_plugin.checks import (
    GATE_ACTIVATIONS,
    check_act_cfg,
    check_odd,
    check_positive_number,
    check_real,
)
from se_plugin.models.layers.activation import build_activation
from se_plugin.registry import MODELS

from .channel_scale import ChannelScaleLayer
from .functional import full_precision


def eca_kernel_size(channels: int, gamma: float = 2, beta: float = 1) -> int:
    """ECA-Net Eq. 12: ``k = |(log2(C) + b) / gamma|_odd``, as in the authors' code.

    ``t = int(abs((log2(C) + b) / gamma))``; ``k = t`` if ``t`` is odd, else ``t + 1``.
    ResNet-50's 256, 512, 1024 and 2048 channels give 5, 5, 5 and 7.
    """
    t = int(abs((math.log2(channels) + beta) / gamma))
    return t if t % 2 else t + 1


@MODELS.register_module()
class ECALayer(ChannelScaleLayer):
    """Efficient Channel Attention.

    Global average pooling to ``(N, 1, C)``, a 1-D convolution over the
    channel axis (``k`` taps, zero padding, no bias), a gate, and the input
    multiplied channel by channel with the gate's output.

    The kernel size follows the paper's adaptive rule (Eq. 12, with the
    authors' rounding, see :func:`eca_kernel_size`) unless ``kernel_size`` is
    given. timm's ``EcaModule`` takes ``max(k, 3)``; the two rules agree for
    every ``in_channels >= 8`` (all ResNet/ECA-Net widths), and below that
    the paper's rule is kept (``k = 1`` for fewer than 8 channels, as the
    paper's formula gives), so ``ECALayer`` is the paper's layer everywhere;
    pass ``kernel_size=3`` for timm's choice there.

    Args:
        in_channels (int): Channels of the input (and output).
        kernel_size (int, optional): Taps of the channel convolution, a
            positive odd int. Default: None (from ``in_channels``, ``gamma``
            and ``beta``).
        gamma (float): gamma of the adaptive rule (paper: 2). Ignored when
            ``kernel_size`` is given. Default: 2.
        beta (float): b of the adaptive rule (paper: 1). Ignored when
            ``kernel_size`` is given. Default: 1.
        act_cfg (dict): The gate, one of ``'Sigmoid'``, ``'HSigmoid'``,
            ``'Tanh'``, ``'ReLU'``. Default: dict(type='Sigmoid').
        impl (str): ``'fused'`` (SE's fused Functions, see
            :class:`~se_plugin.models.layers.channel_scale.ChannelScaleLayer`:
            in a residual block the norm before the layer is folded in, so
            its output is not kept for the backward), ``'recompute'`` or
            ``'reference'`` (plain autograd). The same function either way.
            Default: 'fused'.
        init_cfg (dict | list[dict], optional): Initialization config.
            Default: None.

    The convolution is ``self.conv``, an ``nn.Conv1d(1, 1, k)`` named and
    shaped as timm's ``EcaModule.conv``, so weights convert 1:1.

    Example:
        >>> import torch
        >>> from se_plugin.models import ECALayer
        >>> layer = ECALayer(256)
        >>> layer.conv.kernel_size
        (5,)
        >>> layer(torch.rand(2, 256, 7, 7)).shape
        torch.Size([2, 256, 7, 7])
    """

    def __init__(
        self,
        in_channels: int,
        kernel_size: Optional[int] = None,
        gamma: float = 2,
        beta: float = 1,
        act_cfg: dict = dict(type='Sigmoid'),
        impl: str = 'fused',
        init_cfg: Optional[Union[dict, list]] = None,
    ) -> None:
        super().__init__(in_channels, impl, init_cfg)
        if kernel_size is None:
            gamma = check_positive_number('gamma', gamma)
            kernel_size = eca_kernel_size(self.in_channels, gamma, check_real('beta', beta))
        else:
            kernel_size = check_odd('kernel_size', kernel_size)
        gate_cfg = check_act_cfg('act_cfg', act_cfg, GATE_ACTIVATIONS)
        self.conv = nn.Conv1d(1, 1, kernel_size, padding=(kernel_size - 1) // 2, bias=False)
        self.gate = build_activation(gate_cfg)

    def excite(self, pooled: Tensor) -> Tensor:
        """``(N, C)`` channel means to weights: the convolution across channels, the gate."""
        with full_precision(pooled):
            return self.gate(self.conv(pooled.to(self.conv.weight.dtype)[:, None]))[:, 0]

    def extra_repr(self) -> str:
        return f'impl={self.impl!r}'
