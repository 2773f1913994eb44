"""Fused autograd Functions of the Squeeze-and-Excitation layer.

:class:`FusedSqueezeScale` covers squeeze + excitation + scale (+ the block's
shortcut); :class:`FusedNormSqueezeScale` also takes over the batch norm
before the layer. Both keep for the backward only what the plain ops keep
before the layer (``x``, resp. the norm's input ``z``) and make fewer passes
over the full-size tensors than autograd's backward of the plain ops.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from .autograd import reference_grads, small_graph, small_graph_grads
from .kernels import (
    REDUCED_DTYPES,
    add_scaled_,
    batch_norm_backward,
    batch_norm_statistics,
    channel_dot,
    channel_sums,
    combine_parts,
    pool_parts,
    scale_add,
    scale_shift,
    spatial_mean,
)


def scale_plain(x: Tensor, weight: Tensor, residual: Optional[Tensor], inplace: bool) -> Tensor:
    """``x * weight (+ residual)`` for ``(N, C)`` weights, in the fastest form for x."""
    if residual is None:
        return x * weight.to(x.dtype)[:, :, None, None]
    return scale_add(x, weight, residual, inplace=inplace)


class FusedSqueezeScale(torch.autograd.Function):
    """``x * excite(squeeze(x)) [+ residual]`` with a two-pass backward over ``x``.

    ``apply(x, residual, layer, *params)``: ``residual`` is None or a tensor
    added in the same pass; ``layer`` is the
    :class:`~se_plugin.models.layers.channel_scale.ChannelScaleLayer` (SE, ECA,
    eSE: its ``squeeze`` op, its ``excite`` MLP on ``(N, C)`` and its
    ``reference_forward``), ``params`` its parameters, passed so that autograd
    routes their gradients here.

    Backward: ``grad_w = sum_hw(grad_out * x)`` as one reduction
    (:func:`~.kernels.channel_dot`), the MLP's gradients from its small graph,
    then ``grad_x = grad_out * w + grad_pooled / HW`` in one pass
    (:func:`~.kernels.scale_shift`); for max squeezes the gradient goes to the
    positions equal to the maximum, split evenly between ties (as ``amax``'s).
    """

    @staticmethod
    def forward(ctx, x: Tensor, residual: Optional[Tensor], layer: nn.Module, *params: Tensor):
        op = layer.squeeze
        parts = pool_parts(x, op)
        with small_graph():  # pooled (N, C) -> weight (N, C)
            leaves = [part.detach().requires_grad_() for part in parts]
            weight = layer.excite(combine_parts(leaves, op))
        ctx.layer, ctx.params, ctx.leaves, ctx.weight = layer, params, leaves, weight
        ctx.save_for_backward(x, *(parts[-1:] if op != 'avg' else ()))
        return scale_plain(x, weight.detach(), residual, inplace=False)

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        x, *maxima = ctx.saved_tensors
        need_x, need_residual = ctx.needs_input_grad[:2]
        need_params = ctx.needs_input_grad[3:]
        grad_residual = grad_out if need_residual else None
        if torch.is_grad_enabled():  # create_graph=True: differentiate the plain formula
            grads = reference_grads(
                lambda x, *params: ctx.layer.reference_forward(x),
                (x, *ctx.params),
                (need_x, *need_params),
                grad_out,
            )
            return (grads[0], grad_residual, None, *grads[1:])
        weight, leaves, op = ctx.weight, ctx.leaves, ctx.layer.squeeze
        grad_weight = channel_dot(grad_out, x)  # pass 1
        grad_parts, param_grads = small_graph_grads(
            weight, grad_weight, leaves if need_x else (), ctx.params, need_params
        )
        grad_x = None
        if need_x:  # pass 2 (plus a masked add for the max squeeze)
            w = weight.detach()
            h, wd = x.shape[2:]
            grad_x = scale_shift(grad_out, w, grad_parts[0] / (h * wd) if op != 'max' else None)
            if op != 'avg':  # amax's gradient: split evenly among the maxima
                at_max = x == maxima[0].to(x.dtype)[:, :, None, None]
                share = grad_parts[-1] / at_max.sum((2, 3))
                grad_x.addcmul_(at_max, share.to(grad_x.dtype)[:, :, None, None])
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


class FusedNormSqueezeScale(torch.autograd.Function):
    """``se(bn(z)) + residual`` for a ``BatchNorm2d`` ``bn`` and an avg-squeeze SE layer.

    ``apply(z, residual, gamma, beta, norm, layer, *params)``: ``residual`` is
    None or a tensor added in the same pass (the block's shortcut), ``gamma`` and
    ``beta`` are the norm's affine parameters (or None), ``norm`` the module
    (its running statistics are updated as its own forward would), ``layer``
    the SE layer and ``params`` its parameters.

    With ``x = bn(z) = z * A + B`` (``A, B`` per channel from the batch or
    running statistics) and ``w = excite(mean_hw(x)) = excite(mean_hw(z) * A + B)``,
    the output ``z * (A w) + B w + residual`` is written in one pass over
    ``z`` (``x`` is never built); kept are ``z``, the batch statistics and the
    pooled ``(N, C)``. With ``g = grad_out`` and ``m`` the mean,
    ``sum_hw(g * x) = A * sum_hw(g * (z - m)) + beta * sum_hw(g)`` gives the
    excitation's gradient, and the batch-norm backward of
    ``grad_x = g * w + grad_pooled / HW`` reduces to per-channel sums of those
    same two reductions: ``grad_z = g * P + z * Q + R`` (fp16/bf16: batch
    norm's own backward kernel on ``grad_x``, one rounding).
    """

    @staticmethod
    def forward(ctx, z, residual, gamma, beta, norm, layer, *params):
        training, running_mean, running_var, momentum = batch_norm_settings(norm)
        if training:
            mean, var = batch_norm_statistics(z, running_mean, running_var, momentum)
        else:
            mean, var = running_mean.clone(), running_var.clone()
        invstd = torch.rsqrt(var + norm.eps)
        pooled_z = spatial_mean(z).to(mean.dtype)
        scale = invstd if gamma is None else gamma * invstd  # x = z * scale + shift
        shift = -mean * scale if beta is None else beta - mean * scale
        with small_graph():
            leaf = torch.addcmul(shift, pooled_z, scale).detach().requires_grad_()
            weight = layer.excite(leaf)
        w = weight.detach().to(scale.dtype)
        out = scale_shift(z, scale * w, shift * w)
        if residual is not None:
            out.add_(residual)
        ctx.save_for_backward(z, mean, invstd, pooled_z)  # what the norm keeps, plus (N, C)
        ctx.training, ctx.eps, ctx.layer, ctx.gamma_beta = training, norm.eps, layer, (gamma, beta)
        ctx.params, ctx.leaf, ctx.weight = params, leaf, weight
        return out

    @staticmethod
    def _reference(ctx, saved, z, gamma, beta):
        """``se(bn(z))`` in plain ops (the statistics not updated again)."""
        mean, invstd = saved[1:3]
        var = invstd.pow(-2) - ctx.eps
        if ctx.training:
            x = F.batch_norm(z, None, None, gamma, beta, True, 0.0, ctx.eps)
        else:
            x = F.batch_norm(z, mean, var, gamma, beta, False, 0.0, ctx.eps)
        return ctx.layer.reference_forward(x)

    @staticmethod
    def backward(ctx, grad_out):
        z, mean, invstd, pooled_z = ctx.saved_tensors  # unpacked once (checkpointing)
        gamma, beta = ctx.gamma_beta
        saved = (z, mean, invstd, invstd if gamma is None else gamma * invstd, pooled_z)
        needs = ctx.needs_input_grad
        grad_residual = grad_out if needs[1] else None
        if torch.is_grad_enabled():  # create_graph=True: differentiate the plain formula
            grads = reference_grads(
                lambda z, gamma, beta, *params: FusedNormSqueezeScale._reference(
                    ctx, saved, z, gamma, beta
                ),
                (z, gamma, beta, *ctx.params),
                (needs[0], needs[2], needs[3], *needs[6:]),
                grad_out,
            )
            return (grads[0], grad_residual, grads[1], grads[2], None, None, *grads[3:])
        return FusedNormSqueezeScale._fast_backward(ctx, saved, grad_out, grad_residual)

    @staticmethod
    def _norm_grads(ctx, saved, grad_out, w, grad_pooled, sum_gz, sum_g) -> tuple:
        """``(grad_z, grad_gamma, grad_beta)`` from the two reductions, no ``grad_x`` tensor.

        ``sum_gz`` is ``sum_hw(g * (z - mean))``, ``sum_g`` is ``sum_hw(g)``.
        """
        z, mean, invstd, scale, pooled_z = saved
        n, c, h, w_ = z.shape
        hw, count = h * w_, n * h * w_
        # the norm's gradients: sum over (n, hw) of grad_x and of grad_x * xhat
        sum_gx = w * sum_g + grad_pooled  # per (n, c)
        grad_beta = sum_gx.sum(0)
        grad_gamma = ((w * sum_gz + grad_pooled * (pooled_z - mean)) * invstd).sum(0)
        if not ctx.needs_input_grad[0]:
            return None, grad_gamma, grad_beta
        # grad_x * dx/dz (dx/dz = scale), plus, with batch statistics, their
        # gradient: - scale * (grad_beta + xhat * grad_gamma) / count
        if ctx.training:
            q = -scale * invstd * grad_gamma / count  # the z term, per channel
            r = scale * (grad_pooled / hw - grad_beta / count) - mean * q
            grad_z = scale_shift(grad_out, scale * w, r)
            add_scaled_(grad_z, z, q.expand(n, c))
        else:
            grad_z = scale_shift(grad_out, scale * w, scale * grad_pooled / hw)
        return grad_z, grad_gamma, grad_beta

    @staticmethod
    def _fast_backward(ctx, saved, grad_out, grad_residual):
        z, mean, invstd, scale, _ = saved
        needs = ctx.needs_input_grad
        hw = z.shape[2] * z.shape[3]
        # centred on the batch mean: sum_hw(g * x) = scale * sum_hw(g * (z - m)) + beta * sum_hw(g)
        sum_gz, sum_g = (s.to(scale.dtype) for s in channel_sums(grad_out, z, center=mean))
        beta = ctx.gamma_beta[1]
        grad_weight = sum_gz * scale + (0.0 if beta is None else sum_g * beta)
        (grad_pooled,), param_grads = small_graph_grads(
            ctx.weight, grad_weight, [ctx.leaf], ctx.params, needs[6:]
        )
        grad_pooled = grad_pooled.to(scale.dtype)
        w = ctx.weight.detach().to(scale.dtype)
        if ctx.training and z.dtype in REDUCED_DTYPES:  # one fp32 kernel: no cancellation
            gamma = ctx.gamma_beta[0]
            grad_x = scale_shift(grad_out, w, grad_pooled / hw)
            mask = [needs[0], needs[2] and gamma is not None, needs[3]]
            grad_z, grad_gamma, grad_beta = batch_norm_backward(
                grad_x, z, gamma, mean, invstd, ctx.eps, mask
            )
        else:
            grad_z, grad_gamma, grad_beta = FusedNormSqueezeScale._norm_grads(
                ctx, saved, grad_out, w, grad_pooled, sum_gz, sum_g
            )
        return (
            grad_z,
            grad_residual,
            grad_gamma if needs[2] else None,
            grad_beta if needs[3] else None,
            None,
            None,
            *param_grads,
        )
