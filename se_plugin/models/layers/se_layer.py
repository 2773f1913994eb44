"""Squeeze-and-Excitation layer (Hu et al., SENet, arXiv 1709.01507).

Two implementations of the same function are selected by ``SELayer(impl=...)``:

``'reference'``
    The textbook module: squeeze, two 1x1 convolutions on ``(N, C, 1, 1)``,
    gate, ``x * w``; autograd differentiates every op.
``'fused'`` (default)
    The same maths with less memory traffic on the ``(N, C, H, W)`` tensor,
    which is what an SE layer costs (its MLP is tiny):

    * the squeeze is a reduction to ``(N, C)`` and the excitation MLP runs as
      two ``linear`` ops on ``(N, C)`` with the convolutions' own weights
      (viewed as ``(out, in)``; parameter names and shapes are unchanged);
    * in training, :class:`FusedSqueezeScale` (a ``torch.autograd.Function``)
      covers squeeze + excitation + scale. Its backward makes two passes over
      the big tensors: ``grad_w = sum_hw(grad_out * x)`` as one reduction with
      no ``grad_out * x`` tensor (:func:`channel_dot`), then
      ``grad_x = grad_out * w + g_pooled / HW`` in one pass (:func:`scale_shift`;
      the squeeze gradient is broadcast, never materialised). Autograd's reference makes
      about five passes and allocates two extra full-size tensors. The MLP's
      gradients come from ``torch.autograd.grad`` on its small graph, so any
      activation (including ``PReLU``'s parameter) and any gate work;
    * in a residual block in training, :class:`FusedNormSqueezeScale` also
      takes over the batch norm before the SE layer (``bn3`` of a
      bottleneck): the layer's output overwrites the norm's output (no extra
      tensor in the forward), nothing beyond the norm's own input is kept
      for the backward, and the backward computes the SE and batch-norm
      gradients together: one reduction pass giving ``sum_hw(grad)`` and
      ``sum_hw(grad * z)``, then ``grad_z = grad * P + z * Q + R`` in two
      passes, with ``P, R`` of shape ``(N, C)`` and ``Q`` of shape ``(C,)``.
      That is one read pass more than the backward of the block without SE;
    * with no gradient needed (inference) there is no Function at all: ``mean``,
      two ``linear``, one ``mul``;
    * under ``torch.compile`` (and ``torch.jit`` tracing) the plain form is
      used instead of the Function: Inductor fuses the plain graph itself
      (measured faster than a graph break around a custom Function).

    ``'max'`` and ``'avgmax'`` squeezes are fused too: their gradient goes to
    the positions equal to the channel maximum, split evenly between ties, as
    autograd's ``amax`` does. The fused backward is ``once_differentiable``:
    double backward (e.g. gradient penalties) needs ``impl='reference'``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import build_activation_layer, build_conv_layer
from mmengine.model import BaseModule
from mmpretrain.models.utils import make_divisible
from torch import Tensor
from torch.autograd.function import once_differentiable

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
SE_IMPLS = ('fused', 'reference')


def squeeze(x: Tensor, op: str) -> Tensor:
    """Global spatial pooling of an ``(N, C, H, W)`` tensor to ``(N, C, 1, 1)``.

    ``'avgmax'`` is the mean of average and max pooling (timm's convention).
    """
    if op == 'avg':
        return x.mean((2, 3), keepdim=True)
    if op == 'max':
        return x.amax((2, 3), keepdim=True)
    return 0.5 * (x.mean((2, 3), keepdim=True) + x.amax((2, 3), keepdim=True))


def _is_channels_last(x: Tensor) -> bool:
    return x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()


def spatial_mean(x: Tensor) -> Tensor:
    """``x.mean((2, 3))`` as ``(N, C)``; channels-last through ``avg_pool2d``.

    On CPU, a global ``avg_pool2d`` of a channels-last tensor is about twice as
    fast as ``mean`` over its strided spatial dims (and ``mean`` is the faster
    one for NCHW). Under ``torch.compile`` the plain ``mean`` is left to Inductor.
    """
    if _is_channels_last(x) and not torch.compiler.is_compiling():
        return F.avg_pool2d(x, x.shape[2:]).flatten(1)
    return x.mean((2, 3))


def spatial_max(x: Tensor) -> Tensor:
    """``x.amax((2, 3))`` as ``(N, C)``; channels-last through ``max_pool2d``."""
    if _is_channels_last(x) and not torch.compiler.is_compiling():
        return F.max_pool2d(x, x.shape[2:]).flatten(1)
    return x.amax((2, 3))


def _pool_parts(x: Tensor, op: str) -> list:
    """The ``(N, C)`` poolings a squeeze ``op`` combines: [mean], [max] or both."""
    parts = []
    if op in ('avg', 'avgmax'):
        parts.append(spatial_mean(x))
    if op in ('max', 'avgmax'):
        parts.append(spatial_max(x))
    return parts


def _combine(parts: list, op: str) -> Tensor:
    return 0.5 * (parts[0] + parts[1]) if op == 'avgmax' else parts[0]


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


def _is_tracing() -> bool:
    """Under ``torch.compile``, ``torch.export`` or a ``torch.jit`` trace: graphs stay
    functional (no ``out=`` writes, which the TorchScript ONNX exporter refuses)."""
    return torch.compiler.is_compiling() or torch.jit.is_tracing()


def use_autograd_function(module: nn.Module, *inputs: Tensor) -> bool:
    """Whether a fused ``autograd.Function`` should run: eager mode with gradients.

    Not under ``torch.compile`` (Inductor fuses the plain graph itself, and
    would graph-break on the Function's ``autograd.grad``), not while
    ``torch.jit`` traces, and not when nothing needs a gradient.
    """
    if not torch.is_grad_enabled() or torch.jit.is_tracing() or torch.compiler.is_compiling():
        return False
    return any(t.requires_grad for t in inputs) or any(p.requires_grad for p in module.parameters())


_BN_BACKWARD = torch.ops.aten.native_batch_norm_backward
# Below this many positions (14x14 and smaller) the per-sample calls of the
# channels-last reduction cost as much as the product they avoid.
_CHANNELS_LAST_DOT_MIN_HW = 400


def _plane_sums(grad: Tensor, x: Tensor, with_sum: bool) -> Optional[tuple]:
    """``(sum_hw(grad * x), sum_hw(grad) or None)`` through batch norm's backward kernel.

    On CPU (fp32/fp64) that kernel computes ``sum(grad * (x - mean) * invstd)``
    and ``sum(grad)`` per channel in one read of both tensors, with no product
    tensor; with ``mean = 0``, ``invstd = 1`` and the ``N * C`` planes as its
    channels it gives the per-plane sums (channels-last tensors: one call per
    sample, its channels-last kernel). None where it does not apply.
    """
    n, c, h, w = x.shape
    if not (
        x.device.type == 'cpu'
        and x.dtype in (torch.float32, torch.float64)
        and grad.dtype == x.dtype
        and h * w > 1
    ):
        return None
    mask = [False, True, with_sum]
    if grad.is_contiguous() and x.is_contiguous():
        zeros, ones = x.new_zeros(n * c), x.new_ones(n * c)
        view = (1, n * c, h, w)
        _, dot, total = _BN_BACKWARD(
            grad.view(view), x.view(view), None, None, None, zeros, ones, True, 0.0, mask
        )
        return dot.view(n, c), total.view(n, c) if with_sum else None
    channels_last = torch.channels_last
    if (
        h * w >= _CHANNELS_LAST_DOT_MIN_HW
        and grad.is_contiguous(memory_format=channels_last)
        and x.is_contiguous(memory_format=channels_last)
    ):
        zeros, ones = x.new_zeros(c), x.new_ones(c)
        parts = [
            _BN_BACKWARD(
                grad[i : i + 1], x[i : i + 1], None, None, None, zeros, ones, True, 0.0, mask
            )
            for i in range(n)
        ]
        dot = torch.stack([part[1] for part in parts])
        return dot, torch.stack([part[2] for part in parts]) if with_sum else None
    return None


def channel_dot(a: Tensor, b: Tensor) -> Tensor:
    """``(a * b).sum((2, 3))`` of two ``(N, C, H, W)`` tensors, as ``(N, C)``.

    On CPU (fp32/fp64) one read of ``a`` and ``b`` with no full-size product
    (:func:`_plane_sums`); elsewhere the plain product and sum.
    """
    sums = _plane_sums(a, b, with_sum=False)
    return (a * b).sum((2, 3)) if sums is None else sums[0]


def scale_shift(x: Tensor, scale: Tensor, shift: Tensor) -> Tensor:
    """``x * scale + shift`` for an ``(N, C, H, W)`` ``x`` and ``(N, C)`` scale and shift.

    One ``addcmul``, except for NCHW tensors on CPU (fp32/fp64): there,
    broadcasting ``(N, C, 1, 1)`` operands over small planes is slow (2-3x
    a plain pass at 14x14 and 7x7), and batch norm's inference kernel, with
    the ``N * C`` planes as its channels, zero mean and unit variance, computes
    the same per-plane affine map at the speed of one pass.
    """
    n, c, h, w = x.shape
    if (
        x.device.type == 'cpu'
        and x.dtype in (torch.float32, torch.float64)
        and scale.dtype == shift.dtype == x.dtype
        and x.is_contiguous()
        and h * w > 1
    ):
        out = torch.batch_norm(
            x.view(1, n * c, h, w),
            scale.reshape(n * c),
            shift.reshape(n * c),
            x.new_zeros(n * c),
            x.new_ones(n * c),
            False,
            0.0,
            0.0,
            False,
        )
        return out.view(n, c, h, w)
    return torch.addcmul(shift[:, :, None, None], x, scale[:, :, None, None])


def small_graph_grads(
    output: Tensor, grad: Tensor, leaves: Sequence, params: Sequence, need_params: Sequence
) -> tuple:
    """Backward through a fused Function's small ``(N, C)`` graph (pooled -> weights).

    Returns the gradients of ``leaves`` (a list, empty when ``leaves`` is) and
    one entry per parameter: its gradient, or None where ``need_params`` says
    it is not needed. The graph is retained: it lives and dies with the
    Function's node, so ``retain_graph=True`` backward passes work.
    """
    inputs = [*leaves, *(p for p, need in zip(params, need_params) if need)]
    grads = torch.autograd.grad(output, inputs, grad, retain_graph=True, allow_unused=True)
    param_grads = iter(grads[len(leaves) :])
    return list(grads[: len(leaves)]), [next(param_grads) if need else None for need in need_params]


class FusedSqueezeScale(torch.autograd.Function):
    """``x * excite(squeeze(x)) [+ residual]`` with a two-pass backward over ``x``.

    ``apply(x, residual, layer, *params)``: ``residual`` is None or a tensor
    added in the same pass as the scaling (``addcmul``); ``layer`` is the
    :class:`SELayer` (its ``squeeze`` op and its ``_excite`` MLP on
    ``(N, C)``), ``params`` its parameters, passed so that autograd routes
    their gradients here.
    """

    @staticmethod
    def forward(
        ctx, x: Tensor, residual: Optional[Tensor], layer: SELayer, *params: Tensor
    ) -> Tensor:
        op = layer.squeeze
        parts = _pool_parts(x, op)
        with torch.enable_grad():  # the small graph: pooled (N, C) -> weight (N, C)
            leaves = [part.detach().requires_grad_() for part in parts]
            weight = layer._excite(_combine(leaves, op))
        ctx.op, ctx.params, ctx.leaves, ctx.weight = op, params, leaves, weight
        # the channel maxima locate the max squeeze's gradient
        ctx.save_for_backward(x, *(parts[-1:] if op != 'avg' else ()))
        scale = weight.detach()[:, :, None, None]
        return x * scale if residual is None else torch.addcmul(residual, x, scale)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: Tensor):
        x, *maxima = ctx.saved_tensors
        weight, leaves, op = ctx.weight, ctx.leaves, ctx.op
        need_x = ctx.needs_input_grad[0]
        need_params = ctx.needs_input_grad[3:]
        grad_weight = channel_dot(grad_out, x)  # pass 1
        grad_parts, param_grads = small_graph_grads(
            weight, grad_weight, leaves if need_x else (), ctx.params, need_params
        )
        grad_x = None
        if need_x:  # pass 2 (plus a masked add for the max squeeze)
            w = weight.detach()
            if op == 'max':
                grad_x = grad_out * w[:, :, None, None]
            else:
                h, wd = x.shape[2:]
                grad_x = scale_shift(grad_out, w, grad_parts[0] / (h * wd))
            if op != 'avg':  # amax's gradient: split evenly among the maxima
                at_max = x == maxima[0][:, :, None, None]
                share = grad_parts[-1] / at_max.sum((2, 3))
                grad_x.addcmul_(at_max, share[:, :, None, None])
        grad_residual = grad_out if ctx.needs_input_grad[1] else None
        return (grad_x, grad_residual, None, *param_grads)


def batch_norm_settings(norm: nn.BatchNorm2d) -> tuple:
    """``(training, running_mean, running_var, momentum)`` as ``nn.BatchNorm2d.forward`` uses them.

    Counts the batch in ``num_batches_tracked`` as its forward does (the
    cumulative average when ``momentum`` is None).
    """
    momentum = 0.0 if norm.momentum is None else norm.momentum
    if norm.training and norm.track_running_stats and norm.num_batches_tracked is not None:
        norm.num_batches_tracked.add_(1)
        if norm.momentum is None:
            momentum = 1.0 / float(norm.num_batches_tracked)
    training = norm.training or (norm.running_mean is None and norm.running_var is None)
    keep_stats = not norm.training or norm.track_running_stats
    return (
        training,
        norm.running_mean if keep_stats else None,
        norm.running_var if keep_stats else None,
        momentum,
    )


def channel_sums(grad: Tensor, z: Tensor) -> tuple:
    """``(sum_hw(grad * z), sum_hw(grad))`` as two ``(N, C)`` tensors, in one read of both."""
    sums = _plane_sums(grad, z, with_sum=True)
    return ((grad * z).sum((2, 3)), grad.sum((2, 3))) if sums is None else sums


def _has_forward_hooks(module: nn.Module) -> bool:
    hooks = torch.nn.modules.module
    return bool(
        module._forward_hooks
        or module._forward_pre_hooks
        or hooks._global_forward_hooks
        or hooks._global_forward_pre_hooks
    )


class FusedNormSqueezeScale(torch.autograd.Function):
    """``se(bn(z)) + residual`` for a ``BatchNorm2d`` ``bn`` and an avg-squeeze :class:`SELayer`.

    ``apply(z, residual, gamma, beta, norm, layer, *params)``: ``gamma`` and
    ``beta`` are the norm's affine parameters (or None), ``norm`` the module
    (its running statistics are updated as its own forward would), ``layer``
    the SE layer and ``params`` its parameters.

    With ``x = bn(z) = z * A + B`` (``A, B`` per channel from the batch or
    running statistics), ``w = excite(mean_hw(x))`` and
    ``out = x * w + residual``, the backward needs only ``z``: with
    ``g = grad_out``, ``sum_hw(g * x) = A * sum_hw(g * z) + B * sum_hw(g)``
    gives the excitation's gradient, and the batch-norm backward of
    ``grad_x = g * w + grad_pooled / HW`` reduces to per-channel sums of
    those same two reductions, so ``grad_x`` is never built.
    """

    @staticmethod
    def forward(ctx, z, residual, gamma, beta, norm, layer, *params):
        training, running_mean, running_var, momentum = batch_norm_settings(norm)
        x, mean, invstd = torch.native_batch_norm(
            z, gamma, beta, running_mean, running_var, training, momentum, norm.eps
        )
        if not training:  # native_batch_norm returns no statistics in eval mode
            mean = running_mean
            invstd = torch.rsqrt(running_var + norm.eps)
        pooled_z = spatial_mean(z)
        scale = invstd if gamma is None else gamma * invstd  # x = z * scale + shift
        shift = -mean * scale if beta is None else beta - mean * scale
        with torch.enable_grad():
            leaf = torch.addcmul(shift, pooled_z, scale).detach().requires_grad_()
            weight = layer._excite(leaf)
        w = weight.detach()
        out = torch.addcmul(residual, x, w[:, :, None, None], out=x)
        ctx.save_for_backward(z)
        ctx.stats = (mean, invstd, scale, shift, pooled_z)
        ctx.training, ctx.params, ctx.leaf, ctx.weight = training, params, leaf, weight
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        (z,) = ctx.saved_tensors
        mean, invstd, scale, shift, pooled_z = ctx.stats
        n, c, h, w_ = z.shape
        hw, count = h * w_, n * h * w_
        sum_gz, sum_g = channel_sums(grad_out, z)
        grad_weight = sum_gz * scale + sum_g * shift  # sum_hw(g * x)
        (grad_pooled,), param_grads = small_graph_grads(
            ctx.weight, grad_weight, [ctx.leaf], ctx.params, ctx.needs_input_grad[6:]
        )
        w = ctx.weight.detach()
        # the norm's gradients: sum over (n, hw) of grad_x and of grad_x * xhat
        sum_gx = w * sum_g + grad_pooled  # per (n, c)
        grad_beta = sum_gx.sum(0)
        grad_gamma = ((w * sum_gz + grad_pooled * pooled_z - mean * sum_gx) * invstd).sum(0)
        grad_z = None
        if ctx.needs_input_grad[0]:
            # grad_x * dx/dz (dx/dz = scale), plus, with batch statistics, their
            # gradient: - scale * (grad_beta + xhat * grad_gamma) / count
            if ctx.training:
                q = -scale * invstd * grad_gamma / count  # the z term, per channel
                r = scale * (grad_pooled / hw - grad_beta / count) - mean * q
                grad_z = scale_shift(grad_out, scale * w, r)
                grad_z.addcmul_(z, q[None, :, None, None])
            else:
                grad_z = scale_shift(grad_out, scale * w, scale * grad_pooled / hw)
        return (
            grad_z,
            grad_out if ctx.needs_input_grad[1] else None,
            grad_gamma if ctx.needs_input_grad[2] else None,
            grad_beta if ctx.needs_input_grad[3] else None,
            None,
            None,
            *param_grads,
        )


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
        impl (str): ``'fused'`` (the fast path described in this module's
            docstring) or ``'reference'`` (plain autograd over the textbook
            ops). Both compute the same function with the same parameters.
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
        self.impl = check_choice('impl', impl, SE_IMPLS)
        self.fc1 = build_conv_layer(conv_cfg, in_channels, squeeze_channels, 1, bias=bias)
        self.act = build_activation_layer(hidden_cfg)
        self.fc2 = build_conv_layer(conv_cfg, squeeze_channels, in_channels, 1, bias=bias)
        self.gate = build_activation_layer(gate_cfg)

    def _excite(self, pooled: Tensor) -> Tensor:
        """The excitation MLP on pooled ``(N, C)`` values, giving ``(N, C)`` weights."""
        if not (
            is_pointwise_linear(self.fc1) and is_pointwise_linear(self.fc2)
        ):  # e.g. a custom conv_cfg: use the modules as built
            return self.excitation_from_pooled(pooled[:, :, None, None]).flatten(1)
        hidden = self.act(F.linear(pooled, self.fc1.weight.flatten(1), self.fc1.bias))
        return self.gate(F.linear(hidden, self.fc2.weight.flatten(1), self.fc2.bias))

    def excitation_from_pooled(self, pooled: Tensor) -> Tensor:
        """The reference MLP: ``(N, C, 1, 1)`` pooled values to weights."""
        return self.gate(self.fc2(self.act(self.fc1(pooled))))

    def excitation(self, x: Tensor) -> Tensor:
        """The ``(N, C, 1, 1)`` channel weights for an ``(N, C, H, W)`` input."""
        if self.impl == 'reference':
            return self.excitation_from_pooled(squeeze(x, self.squeeze))
        return self._excite(_combine(_pool_parts(x, self.squeeze), self.squeeze))[:, :, None, None]

    @property
    def fuses_residual(self) -> bool:
        """Whether ``forward(x, residual=...)`` adds a block's shortcut in the same pass.

        True for the fused implementation: a residual block then calls
        ``layer(out, residual=identity, inplace=True)`` instead of
        ``out = layer(out); out += identity`` (one pass over memory instead of
        two), see :mod:`se_plugin.models.backbones.blocks`.
        """
        return self.impl == 'fused' and not self.return_weight

    def forward_after_norm(self, z: Tensor, norm: nn.Module, residual: Tensor) -> Tensor:
        """``self(norm(z), residual=residual)``, the norm folded in where that is faster.

        A residual block calls this with its last conv's output ``z`` and
        last norm. With an ``nn.BatchNorm2d``, the average squeeze, gradients
        recorded (eager fp32/fp64 training, no autocast) and no forward hooks
        on this layer, it runs :class:`FusedNormSqueezeScale`; otherwise the
        norm, then this layer's own call with
        ``residual=residual, inplace=True``.
        """
        if self._folds_norm(norm, z):
            params = (*self.parameters(),)
            return FusedNormSqueezeScale.apply(
                z, residual, norm.weight, norm.bias, norm, self, *params
            )
        return self(norm(z), residual=residual, inplace=True)

    def _folds_norm(self, norm: nn.Module, z: Tensor) -> bool:
        return (
            self.fuses_residual
            and not _has_forward_hooks(self)  # hooks see the module's own call
            and self.squeeze == 'avg'
            and type(norm) is nn.BatchNorm2d
            and z.dim() == 4
            and z.dtype in (torch.float32, torch.float64)
            and not torch.is_autocast_enabled(z.device.type)
            and use_autograd_function(self, z, *norm.parameters())
        )

    def forward(
        self, x: Tensor, residual: Optional[Tensor] = None, inplace: bool = False
    ) -> Tensor:
        """``x`` rescaled channel by channel (the weights if ``return_weight``).

        Args:
            x (Tensor): ``(N, C, H, W)`` input.
            residual (Tensor, optional): Added to the result in the same pass
                (``x * w + residual``, one ``addcmul``). Default: None.
            inplace (bool): With ``residual`` and no gradient recorded, write
                the result into ``x`` (a temporary of the caller, like the
                norm output a block adds its shortcut to in place); not
                while a graph is traced or compiled. Default: False.
        """
        if self.return_weight:
            if residual is not None:
                raise ValueError('return_weight=True returns the weights: no residual to add')
            return self.excitation(x)
        if self.impl == 'fused' and use_autograd_function(self, x):
            return FusedSqueezeScale.apply(x, residual, self, *self.parameters())
        weight = self.excitation(x)
        if residual is None:
            return x * weight
        if inplace and not torch.is_grad_enabled() and not _is_tracing():
            return torch.addcmul(residual, x, weight, out=x)
        return torch.addcmul(residual, x, weight)

    def extra_repr(self) -> str:
        return f'squeeze={self.squeeze!r}, return_weight={self.return_weight}, impl={self.impl!r}'
