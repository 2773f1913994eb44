"""Fast paths of the Selective Kernel convolution: the selection Function and strided paths."""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from .autograd import reference_grads, small_graph, small_graph_grads
from .kernels import add_scaled_, channel_dot, scale_shift


def conv_on_stride_grid(conv: nn.Module, x: Tensor) -> Optional[Tensor]:
    """``conv(x)`` computed on ``x[..., ::s, ::s]`` when that is the same thing, else None.

    A convolution with stride ``s`` whose dilation ``d`` and padding ``p`` are
    multiples of ``s`` reads only the input positions ``s * i + d * k - p``,
    all on the grid of every ``s``-th row and column. So it equals the
    stride-1 convolution of that grid with dilation ``d / s`` and padding
    ``p / s``, for any input size (the output sizes agree too). SKNet's
    dilated path in a downsampling block (stride 2, dilation 2) is such a
    convolution; its backward on CPU is much faster this way (oneDNN's
    strided-dilated grouped backward is slow) and its input gradient is
    zero off the grid either way.

    Returns None when ``conv`` is not a plain ``nn.Conv2d`` with zero padding
    or the stride does not divide dilation and padding.
    """
    if type(conv) is not nn.Conv2d or conv.padding_mode != 'zeros':
        return None
    stride, dilation, padding = conv.stride, conv.dilation, conv.padding
    if isinstance(padding, str) or stride == (1, 1):
        return None
    if any(d % s or p % s for s, d, p in zip(stride, dilation, padding)):
        return None
    sh, sw = stride
    return F.conv2d(
        x[:, :, ::sh, ::sw],
        conv.weight,
        conv.bias,
        1,
        (padding[0] // sh, padding[1] // sw),
        (dilation[0] // sh, dilation[1] // sw),
        conv.groups,
    )


def run_path(path: nn.Module, x: Tensor, fast: bool) -> Tensor:
    """A path's ``ConvModule`` on ``x``; with ``fast``, its conv via :func:`conv_on_stride_grid`.

    Callers pass ``fast=False`` when the path has hooks (its conv is then
    called as a module) or while a graph is captured.
    """
    if (
        fast
        and tuple(path.order) == ('conv', 'norm', 'act')
        and not path.with_explicit_padding
        and path.efficient_conv_bn_eval_forward is None
    ):
        out = conv_on_stride_grid(path.conv, x)
        if out is not None:
            if path.with_norm:
                out = path.norm(out)
            return path.activate(out) if path.with_activation else out
    return path(x)


def selective_sum(feats: list, weights: Tensor) -> Tensor:
    """``sum_m weights[:, m] * feats[m]`` for ``(N, M, C)`` weights, without stacking the paths."""
    out = scale_shift(feats[0], weights[:, 0])
    for m in range(1, len(feats)):
        add_scaled_(out, feats[m], weights[:, m])
    return out


class FusedSelectiveSum(torch.autograd.Function):
    """``V = sum_m a_m * U_m`` with ``a = softmax(select(fuse(sum_m mean(U_m))))``.

    ``apply(layer, *paths, *params)``: the :class:`~se_plugin.models.SKConv`,
    its path outputs ``U_1 .. U_M`` and its fuse/select parameters. Backward:
    per path one reduction ``grad_a_m = sum_hw(grad_V * U_m)`` (no full-size
    product), the small graph's gradients, and one pass per path for
    ``grad_U_m = grad_V * a_m + grad_s / HW``. Autograd's backward of the plain
    ops allocates three extra full-size tensors per path.
    """

    @staticmethod
    def forward(ctx, layer: nn.Module, *inputs: Tensor) -> Tensor:
        feats, params = inputs[: layer.num_paths], inputs[layer.num_paths :]
        pooled = layer._pooled(feats)
        with small_graph():  # pooled (N, C) -> weights (N, M, C)
            leaf = pooled.detach().requires_grad_()
            weights = layer._path_weights(leaf)
        ctx.save_for_backward(*feats)
        ctx.layer, ctx.params, ctx.leaf, ctx.weights = layer, params, leaf, weights
        return selective_sum(list(feats), weights.detach())

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        feats = ctx.saved_tensors
        num_paths = len(feats)
        need_feats = ctx.needs_input_grad[1 : 1 + num_paths]
        need_params = ctx.needs_input_grad[1 + num_paths :]
        if torch.is_grad_enabled():  # create_graph=True: differentiate the plain formula
            grads = reference_grads(
                lambda *inputs: ctx.layer.reference_select(list(inputs[:num_paths])),
                (*feats, *ctx.params),
                (*need_feats, *need_params),
                grad_out,
            )
            return (None, *grads)
        grad_weights = torch.stack([channel_dot(grad_out, feat) for feat in feats], 1)
        grad_leaf, param_grads = small_graph_grads(
            ctx.weights,
            grad_weights,
            [ctx.leaf] if any(need_feats) else [],
            ctx.params,
            need_params,
        )
        grad_feats = [None] * num_paths
        if any(need_feats):
            h, w = grad_out.shape[2:]
            spread = grad_leaf[0] / (h * w)
            a = ctx.weights.detach()
            grad_feats = [
                scale_shift(grad_out, a[:, m], spread) if need else None
                for m, need in enumerate(need_feats)
            ]
        return (None, *grad_feats, *param_grads)
