"""Squeeze-and-Excitation layer (Hu et al., SENet, arXiv 1709.01507)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional, Union

from mmcv.cnn import build_activation_layer, build_conv_layer
from mmengine.model import BaseModule
from mmpretrain.models.utils import make_divisible
from torch import Tensor

from se_plugin.checks import (
    GATE_ACTIVATIONS,
    HIDDEN_ACTIVATIONS,
    check_act_cfg,
    check_choice,
    check_int,
    check_positive_number,
    check_registered,
)
from se_plugin.registry import MODELS

SQUEEZE_OPS = ('avg', 'max', 'avgmax')


def squeeze(x: Tensor, op: str) -> Tensor:
    """Global spatial pooling of an ``(N, C, H, W)`` tensor to ``(N, C, 1, 1)``.

    ``'avgmax'`` is the mean of average and max pooling (timm's convention).
    """
    if op == 'avg':
        return x.mean((2, 3), keepdim=True)
    if op == 'max':
        return x.amax((2, 3), keepdim=True)
    return 0.5 * (x.mean((2, 3), keepdim=True) + x.amax((2, 3), keepdim=True))


@MODELS.register_module()
class SELayer(BaseModule):
    """Squeeze-and-Excitation layer.

    Squeeze: global pooling to one value per channel. Excitation: a bottleneck
    of two 1x1 convolutions (``in_channels -> squeeze_channels -> in_channels``)
    with a hidden activation and a gate. Scale: the input multiplied channel by
    channel with the gate's output. The output has the shape of the input, so
    the layer fits anywhere a plugin of ``in_channels`` channels does (the
    mmcv plugin convention used by mmdet/mmseg ResNets).

    Args:
        in_channels (int): Channels of the input (and output).
        ratio (float): Reduction ratio r; the hidden width is
            ``make_divisible(in_channels / ratio, divisor)``. Ignored when
            ``squeeze_channels`` is given. Default: 16.
        squeeze_channels (int, optional): Hidden width, overriding ``ratio``.
            Default: None.
        divisor (int): The hidden width is rounded to a multiple of this (as in
            mmpretrain and timm). Use 1 for the paper's plain ``C / r``.
            Default: 8.
        bias (bool): Whether the two 1x1 convolutions have a bias. Default: True.
        squeeze (str): Squeeze operator, one of ``'avg'``, ``'max'``,
            ``'avgmax'`` (SENet Table 11). Default: 'avg'.
        conv_cfg (dict, optional): Config of the two 1x1 convolutions (mmcv
            ``build_conv_layer``). Default: None (``nn.Conv2d``).
        act_cfg (dict | Sequence[dict]): Hidden activation and gate. A single
            dict is used for both. Hidden: one of ``HIDDEN_ACTIVATIONS``; gate:
            ``'Sigmoid'``, ``'HSigmoid'``, ``'Tanh'`` or ``'ReLU'`` (SENet
            Table 12). Default: (dict(type='ReLU'), dict(type='Sigmoid')).
        return_weight (bool): Return the ``(N, C, 1, 1)`` excitation instead
            of the rescaled input. Default: False.
        init_cfg (dict | list[dict], optional): Initialization config.
            Default: None.

    Example:
        >>> import torch
        >>> from se_plugin.models import SELayer
        >>> layer = SELayer(64, ratio=4)
        >>> layer(torch.rand(2, 64, 8, 8)).shape
        torch.Size([2, 64, 8, 8])
        >>> layer.squeeze_channels
        16
    """

    def __init__(
        self,
        in_channels: int,
        ratio: float = 16,
        squeeze_channels: Optional[int] = None,
        divisor: int = 8,
        bias: bool = True,
        squeeze: str = 'avg',
        conv_cfg: Optional[dict] = None,
        act_cfg: Union[dict, Sequence[dict]] = (dict(type='ReLU'), dict(type='Sigmoid')),
        return_weight: bool = False,
        init_cfg: Optional[Union[dict, list]] = None,
    ) -> None:
        super().__init__(init_cfg)
        check_int('in_channels', in_channels, minimum=1)
        check_int('divisor', divisor, minimum=1)
        conv_cfg = check_registered('conv_cfg', conv_cfg, kind='conv')
        if squeeze_channels is None:
            check_positive_number('ratio', ratio)
            squeeze_channels = make_divisible(in_channels / ratio, divisor)
            source = f'ratio={ratio} with divisor={divisor}'
        else:
            check_int('squeeze_channels', squeeze_channels)
            source = 'squeeze_channels'
        if not 1 <= squeeze_channels <= in_channels:
            raise ValueError(
                f'the squeeze width must be in [1, in_channels={in_channels}], got '
                f'{squeeze_channels} from {source}; pick a larger ratio, a smaller '
                'divisor, or set squeeze_channels'
            )
        if isinstance(act_cfg, dict):
            act_cfg = (act_cfg, act_cfg)
        if not isinstance(act_cfg, (list, tuple)) or len(act_cfg) != 2:
            raise TypeError(f'act_cfg must be a dict or a pair of dicts, got {act_cfg!r}')
        hidden_cfg = check_act_cfg('act_cfg[0]', act_cfg[0], HIDDEN_ACTIVATIONS)
        gate_cfg = check_act_cfg('act_cfg[1]', act_cfg[1], GATE_ACTIVATIONS)

        self.in_channels = in_channels
        self.squeeze_channels = squeeze_channels
        self.squeeze = check_choice('squeeze', squeeze, SQUEEZE_OPS)
        self.return_weight = bool(return_weight)
        self.fc1 = build_conv_layer(conv_cfg, in_channels, squeeze_channels, 1, bias=bias)
        self.act = build_activation_layer(hidden_cfg)
        self.fc2 = build_conv_layer(conv_cfg, squeeze_channels, in_channels, 1, bias=bias)
        self.gate = build_activation_layer(gate_cfg)

    def excitation(self, x: Tensor) -> Tensor:
        """The ``(N, C, 1, 1)`` channel weights for an ``(N, C, H, W)`` input."""
        return self.gate(self.fc2(self.act(self.fc1(squeeze(x, self.squeeze)))))

    def forward(self, x: Tensor) -> Tensor:
        weight = self.excitation(x)
        if self.return_weight:
            return weight
        return x * weight

    def extra_repr(self) -> str:
        return f'squeeze={self.squeeze!r}, return_weight={self.return_weight}'
