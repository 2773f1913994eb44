"""Global Context block (Cao, Xu, Lin, Wei, Hu, GCNet, arXiv 1904.11492).

A simplified non-local block fused with SE: one attention map shared by all
positions pools the input into a context vector (context modeling), a
bottleneck with LayerNorm transforms it (transform), and the result is added to
every position (fusion ``'add'``, the paper's choice) or gates the channels
(``'scale'``).
"""

from __future__ import annotations

from typing import Optional, Union

import torch
from torch import Tensor, nn

from se_plugin.checks import (
    HIDDEN_ACTIVATIONS,
    check_act_cfg,
    check_bool,
    check_choice,
    check_positive_number,
)
from se_plugin.models.layers.activation import build_activation
from se_plugin.registry import MODELS

from .base import AttentionModule
from .functional import squeeze

GC_FUSIONS = ('add', 'scale')
GC_POOLINGS = ('att', 'avg')


@MODELS.register_module()
class GlobalContext(AttentionModule):
    """Global Context block.

    Context modeling (``pooling='att'``): ``w = softmax_HW(conv_attn(x))``, a
    1x1 conv to one channel and a softmax over the ``H * W`` positions, and
    ``c = sum_HW(w * x)`` (``N, C``). Transform:
    ``t = fc2(ReLU(LayerNorm(fc1(c))))`` with ``fc1: C -> C'``,
    ``C' = int(C * ratio)``, LayerNorm over the ``C'`` values (the paper's
    ``LayerNorm([C', 1, 1])``) and ``fc2: C' -> C``. Fusion: ``x + t``
    (``'add'``) or ``x * sigmoid(t)`` (``'scale'``), broadcast over positions.

    ``ratio`` is the hidden width as a fraction of the channels (1/16 in the
    paper), as in mmcv's ``ContextBlock`` and timm's ``rd_ratio``, unlike
    :class:`SELayer`'s divisor ``ratio=16``.

    Initialisation (the authors' and mmcv's ``ContextBlock``): ``conv_attn``
    Kaiming-normal (fan-in) with a zero bias, and with ``zero_init_last`` the
    weight and bias of ``fc2`` zero, so that a new block is the identity for
    ``'add'`` (a constant 0.5 gate for ``'scale'``). timm's ``GlobalContext``
    zeroes only ``fc2``'s weight and only for ``fuse_add``. The init is
    applied when the layer is built and again by :meth:`init_weights` unless an
    ``init_cfg`` is given (a backbone's own ``init_cfg`` runs first).

    Module names: ``conv_attn``, ``fc1``, ``norm``, ``fc2`` (timm:
    ``conv_attn``, ``mlp_add.fc1``, ``mlp_add.norm``, ``mlp_add.fc2``; mmcv:
    ``conv_mask``, ``channel_add_conv.{0,1,3}`` with the LayerNorm weights of
    shape ``(C', 1, 1)``). timm's ``'gca'`` block,
    ``GlobalContext(C, fuse_add=True, fuse_scale=False, rd_ratio=1/16)``, is
    this layer for ``in_channels`` a multiple of 16 (timm rounds ``C / 16``,
    mmcv truncates) up to its LayerNorm eps (1e-6; ours 1e-5 as in the
    paper's code, ``layer.norm.eps``).

    In a backbone: the se_plugin backbones re-apply this init
    (:meth:`reset_parameters`) after their own init (e.g. the Kaiming init of
    every ``Conv2d``); mmdet's and mmseg's ResNet stages are mmengine
    ``Sequential`` modules, so there :meth:`init_weights` runs after the
    backbone's init.

    Args:
        in_channels (int): Channels of the input (and output).
        ratio (float): Hidden width of the transform as a fraction of
            ``in_channels`` (paper: 1/16). Default: 1/16.
        fusion (str): ``'add'`` (paper) or ``'scale'``. Default: 'add'.
        pooling (str): ``'att'`` (attention pooling, paper) or ``'avg'``
            (global average pooling, the paper's ablation). Default: 'att'.
        zero_init_last (bool): Zero ``fc2`` at initialisation (paper's code).
            Default: True.
        act_cfg (dict): Activation of the transform, one of
            ``HIDDEN_ACTIVATIONS``. Default: dict(type='ReLU').
        impl (str): ``'recompute'`` (in a residual block, the block's last
            norm and this module are recomputed in the backward, see
            :class:`~se_plugin.models.layers.base.AttentionModule`) or
            ``'reference'`` (plain autograd). The same function either way.
            Default: 'recompute'.
        init_cfg (dict | list[dict], optional): Initialization config; when
            given it replaces the paper's init in :meth:`init_weights`.
            Default: None.

    Example:
        >>> import torch
        >>> from se_plugin.models import GlobalContext
        >>> layer = GlobalContext(256)
        >>> layer.fc1.out_channels
        16
        >>> x = torch.rand(2, 256, 7, 7)
        >>> torch.equal(layer(x), x)  # zero-initialised: the identity
        True
    """

    def __init__(
        self,
        in_channels: int,
        ratio: float = 1 / 16,
        fusion: str = 'add',
        pooling: str = 'att',
        zero_init_last: bool = True,
        act_cfg: dict = dict(type='ReLU'),
        impl: str = 'recompute',
        init_cfg: Optional[Union[dict, list]] = None,
    ) -> None:
        super().__init__(in_channels, impl, init_cfg)
        ratio = check_positive_number('ratio', ratio)
        hidden = int(self.in_channels * ratio)
        if not 1 <= hidden <= self.in_channels:
            raise ValueError(
                f'the hidden width int(in_channels * ratio) must be in [1, {self.in_channels}], '
                f'got {hidden} from ratio={ratio}; ratio is a fraction such as 1/16'
            )
        self.fusion = check_choice('fusion', fusion, GC_FUSIONS)
        self.pooling = check_choice('pooling', pooling, GC_POOLINGS)
        self.zero_init_last = check_bool('zero_init_last', zero_init_last)
        act_cfg = check_act_cfg('act_cfg', act_cfg, HIDDEN_ACTIVATIONS)
        self.hidden_channels = hidden
        self.conv_attn = nn.Conv2d(self.in_channels, 1, 1) if pooling == 'att' else None
        self.fc1 = nn.Conv2d(self.in_channels, hidden, 1)
        self.norm = nn.LayerNorm(hidden)
        self.act = build_activation(act_cfg)
        self.fc2 = nn.Conv2d(hidden, self.in_channels, 1)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """The paper's init (see the class docstring)."""
        if self.conv_attn is not None:
            nn.init.kaiming_normal_(self.conv_attn.weight, mode='fan_in', nonlinearity='relu')
            nn.init.zeros_(self.conv_attn.bias)
        if self.zero_init_last:
            nn.init.zeros_(self.fc2.weight)
            nn.init.zeros_(self.fc2.bias)

    def context(self, x: Tensor) -> Tensor:
        """The ``(N, C, 1, 1)`` context: attention-weighted (or plain) mean over positions."""
        self._check_input(x)
        if self.conv_attn is None:
            return squeeze(x, 'avg').to(x.dtype)[:, :, None, None]
        weights = torch.softmax(self.conv_attn(x).flatten(2), dim=-1)  # (N, 1, HW)
        return torch.matmul(x.flatten(2), weights.transpose(1, 2))[..., None]  # (N, C, 1, 1)

    def transform(self, context: Tensor) -> Tensor:
        """The bottleneck ``fc2(act(LayerNorm(fc1(c))))`` on ``(N, C, 1, 1)``."""
        hidden = self.norm(self.fc1(context).flatten(1))
        return self.fc2(self.act(hidden)[:, :, None, None])

    def forward(self, x: Tensor) -> Tensor:
        """``x + t`` (``'add'``) or ``x * sigmoid(t)`` (``'scale'``)."""
        term = self.transform(self.context(x))
        if self.fusion == 'add':
            return x + term
        return x * torch.sigmoid(term)

    def extra_repr(self) -> str:
        return f'fusion={self.fusion!r}, pooling={self.pooling!r}'
