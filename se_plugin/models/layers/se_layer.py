"""Squeeze-and-Excitation layer (Hu et al., SENet, arXiv 1709.01507).

``SELayer(impl='reference')`` runs the textbook ops (squeeze, two 1x1 convs on
``(N, C, 1, 1)``, gate, ``x * w``), differentiated by autograd. The default
``impl='fused'`` computes the same function with the same parameters through
the fast paths of :mod:`se_plugin.models.layers.fused` wherever they keep the
module's behaviour, and through the textbook ops elsewhere.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Optional, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import build_conv_layer
from mmengine.model import BaseModule
from torch import Tensor

from se_plugin.checks import (
    check_act_pair,
    check_choice,
    check_conv2d,
    check_feature_map,
    check_int,
    check_registered,
    check_squeeze_width,
)
from se_plugin.models.layers.activation import build_activation
from se_plugin.registry import MODELS

from .fused import (
    FusedNormSqueezeScale,
    FusedSqueezeScale,
    combine_parts,
    fused_function_allowed,
    has_hooks,
    plain_graph_required,
    pool_parts,
)
from .fused.kernels import acc_dtype
from .fused.se import scale_plain

SQUEEZE_OPS = ('avg', 'max', 'avgmax')
SE_IMPLS = ('fused', 'reference')


def squeeze(x: Tensor, op: str) -> Tensor:
    """Global spatial pooling of an ``(N, C, H, W)`` tensor to ``(N, C, 1, 1)``.

    ``'avgmax'`` is the mean of average and max pooling (timm's convention).
    Means of fp16/bf16 tensors accumulate in fp32 (an fp16 sum of large
    activations overflows); the result has the input's dtype.
    """
    mean = x.mean((2, 3), keepdim=True, dtype=acc_dtype(x)).to(x.dtype)
    if op == 'avg':
        return mean
    if op == 'max':
        return x.amax((2, 3), keepdim=True)
    return 0.5 * mean + 0.5 * x.amax((2, 3), keepdim=True)  # no fp16 overflow of the sum


def full_precision(x: Tensor):
    """Autocast off for an attention layer's MLP on ``(N, C)`` values (a no-op without autocast).

    The MLP is tiny, so it costs nothing to run it in the parameters' dtype
    (fp32 under mixed precision, as NeMo does for SE): its gate then is not
    quantised to fp16/bf16, and on CPUs without bf16 instructions it is faster.
    """
    device = x.device.type
    if torch.is_autocast_enabled(device):
        return torch.autocast(device, enabled=False)
    return contextlib.nullcontext()


def is_pointwise_linear(conv: nn.Module) -> bool:
    """Whether ``conv`` is a plain 1x1 ``nn.Conv2d``: ``linear`` on ``(N, C)`` inputs."""
    return (
        type(conv) is nn.Conv2d
        and conv.kernel_size == (1, 1)
        and conv.stride == (1, 1)
        and conv.padding == (0, 0)
        and conv.dilation == (1, 1)
        and conv.groups == 1
    )


class ChannelScaleLayer(BaseModule):
    """Base of the layers that rescale their input channel by channel from a global
    pooling: ``x * excite(squeeze(x))`` (SE, ECA, eSE), with their fast paths.

    A subclass sets ``in_channels``, ``squeeze`` (one of ``SQUEEZE_OPS``) and
    ``impl`` (one of ``SE_IMPLS``) and provides ``excitation_from_pooled``
    (``(N, C, 1, 1)`` pooled values to weights, the modules called as built)
    and ``_excite`` (the same on ``(N, C)``, the fast paths' form); the fused
    Functions of :mod:`se_plugin.models.layers.fused.se` call them. Both run
    in the parameters' dtype, also under autocast (:func:`full_precision`).
    """

    return_weight = False

    def _reference_required(self, x: Tensor) -> bool:
        """Whether the textbook ops must run: ``impl='reference'``, a graph being
        captured or transformed, an empty batch, or a hook on the layer or its
        submodules (the fast paths call none of them)."""
        return (
            self.impl == 'reference' or plain_graph_required() or x.numel() == 0 or has_hooks(self)
        )

    def excitation(self, x: Tensor) -> Tensor:
        """The ``(N, C, 1, 1)`` channel weights for an ``(N, C, H, W)`` input."""
        self._check_input(x)
        if self._reference_required(x):
            return self.excitation_from_pooled(squeeze(x, self.squeeze)).to(x.dtype)
        pooled = combine_parts(pool_parts(x, self.squeeze), self.squeeze)
        return self._excite(pooled).to(x.dtype)[:, :, None, None]

    def reference_forward(self, x: Tensor) -> Tensor:
        """``x * excitation(x)`` in the textbook ops (what every fast path computes)."""
        return x * self.excitation_from_pooled(squeeze(x, self.squeeze)).to(x.dtype)

    def fusion_with(self, norm: nn.Module) -> str:
        """How a residual block hands this layer its branch; asked once, when the block is built.

        ``'norm'``: the block calls :meth:`forward_after_norm` with the branch
        before its last ``norm`` and the shortcut, and gets
        ``layer(norm(z)) + shortcut`` back, computed with the norm folded in
        where possible. ``'none'``: the block calls the layer on the branch
        (the reference implementation and ``return_weight=True``).
        """
        return 'norm' if self.impl == 'fused' and not self.return_weight else 'none'

    def forward_after_norm(self, z: Tensor, norm: nn.Module, residual: Tensor) -> Tensor:
        """``self(norm(z)) + residual``, with the norm folded in where that keeps the semantics.

        A residual block calls this with its last conv's output ``z``, last
        norm and shortcut (see :meth:`fusion_with`). With an ``nn.BatchNorm2d``
        without hooks and the average squeeze it runs
        :class:`~se_plugin.models.layers.fused.FusedNormSqueezeScale` (training,
        also under autocast; inference with running statistics); where this
        layer has hooks, the plain composition (the layer called as a module).
        """
        if self._reference_required(z):
            out = self(norm(z))
            out += residual
            return out
        if self._folds_norm(norm, z):
            params = (*self.parameters(),)
            return FusedNormSqueezeScale.apply(
                z, residual, norm.weight, norm.bias, norm, self, *params
            )
        return self.forward(norm(z), residual=residual, inplace=True)

    def _folds_norm(self, norm: nn.Module, z: Tensor) -> bool:
        if self.squeeze != 'avg' or type(norm) is not nn.BatchNorm2d or has_hooks(norm):
            return False
        params = (*self.parameters(), *norm.parameters())
        if fused_function_allowed(params, z):
            return True
        # nothing to differentiate: with running statistics the fold is one pass over z
        needs_grad = torch.is_grad_enabled() and (
            z.requires_grad or any(p.requires_grad for p in params)
        )
        return not (norm.training or needs_grad or z.dim() != 4 or z.numel() == 0)

    def _check_input(self, x: Tensor) -> None:
        check_feature_map(f'{type(self).__name__}({self.in_channels})', x, self.in_channels)

    def forward(
        self, x: Tensor, residual: Optional[Tensor] = None, inplace: bool = False
    ) -> Tensor:
        """``x`` rescaled channel by channel (the weights if ``return_weight``).

        Args:
            x (Tensor): ``(N, C, H, W)`` input.
            residual (Tensor, optional): Added to the result in the same pass
                (``x * w + residual``). Default: None.
            inplace (bool): With ``residual`` and no gradient recorded, write
                the result into ``x`` (a temporary of the caller, like the
                norm output a block adds its shortcut to). Default: False.
        """
        if self.return_weight:
            if residual is not None:
                raise ValueError('return_weight=True returns the weights: no residual to add')
            return self.excitation(x)
        self._check_input(x)
        if self._reference_required(x):
            out = self.reference_forward(x)
            return out if residual is None else out + residual
        if fused_function_allowed(self.parameters(), x):
            return FusedSqueezeScale.apply(x, residual, self, *self.parameters())
        pooled = combine_parts(pool_parts(x, self.squeeze), self.squeeze)
        inplace = inplace and residual is not None and not torch.is_grad_enabled()
        return scale_plain(x, self._excite(pooled), residual, inplace)


@MODELS.register_module()
class SELayer(ChannelScaleLayer):
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
        impl (str): ``'fused'`` (the fast paths of
            :mod:`se_plugin.models.layers.fused`) or ``'reference'`` (plain
            autograd over the textbook ops). Both compute the same function
            with the same parameters and behave as the same module.
            From a backbone config: ``model.backbone.se_cfg.impl=reference``.
            Default: 'fused'.
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
        impl: str = 'fused',
        init_cfg: Optional[Union[dict, list]] = None,
    ) -> None:
        super().__init__(init_cfg)
        in_channels = check_int('in_channels', in_channels, minimum=1)
        conv_cfg = check_registered('conv_cfg', conv_cfg, kind='conv')
        squeeze_channels = check_squeeze_width(in_channels, ratio, squeeze_channels, divisor)
        hidden_cfg, gate_cfg = check_act_pair(act_cfg)

        self.in_channels = in_channels
        self.squeeze_channels = squeeze_channels
        self.squeeze = check_choice('squeeze', squeeze, SQUEEZE_OPS)
        self.return_weight = bool(return_weight)
        self.impl = check_choice('impl', impl, SE_IMPLS)
        if not isinstance(bias, bool):
            raise TypeError(f'bias must be a bool, got {bias!r} ({type(bias).__name__})')
        self.fc1 = build_conv_layer(conv_cfg, in_channels, squeeze_channels, 1, bias=bias)
        check_conv2d('conv_cfg', self.fc1, conv_cfg)
        self.act = build_activation(hidden_cfg)
        self.fc2 = build_conv_layer(conv_cfg, squeeze_channels, in_channels, 1, bias=bias)
        self.gate = build_activation(gate_cfg)

    def _excite(self, pooled: Tensor) -> Tensor:
        """The excitation MLP on pooled ``(N, C)`` values, giving ``(N, C)`` weights.

        In the parameters' dtype, also under autocast (see :func:`full_precision`).
        """
        if not (
            is_pointwise_linear(self.fc1) and is_pointwise_linear(self.fc2)
        ):  # e.g. a custom conv_cfg: use the modules as built
            return self.excitation_from_pooled(pooled[:, :, None, None]).flatten(1)
        with full_precision(pooled):
            pooled = pooled.to(self.fc1.weight.dtype)
            hidden = self.act(F.linear(pooled, self.fc1.weight.flatten(1), self.fc1.bias))
            return self.gate(F.linear(hidden, self.fc2.weight.flatten(1), self.fc2.bias))

    def excitation_from_pooled(self, pooled: Tensor) -> Tensor:
        """The reference MLP: ``(N, C, 1, 1)`` pooled values to weights (parameters' dtype)."""
        with full_precision(pooled):
            pooled = pooled.to(next(self.fc1.parameters()).dtype)
            return self.gate(self.fc2(self.act(self.fc1(pooled))))

    def extra_repr(self) -> str:
        return f'squeeze={self.squeeze!r}, return_weight={self.return_weight}, impl={self.impl!r}'
