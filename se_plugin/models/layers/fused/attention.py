"""One autograd Function for every slot module with a hand-written backward.

A :class:`~se_plugin.models.layers.base.FusedAttentionModule` writes its
forward as ``fused_forward(x) -> (out, saved, state)`` (no graph through
``x``; ``saved`` the tensors its backward needs beside ``x``, saved for the
backward as autograd saves tensors; ``state`` its small ``(N, C)``-sized graphs,
recorded in :func:`.autograd.small_graph`) and its backward as
``fused_backward(saved, state, x, grad_out, ...)``. :class:`FusedAttention`
runs them:

* on the module's input ``x`` (the module alone): keeps ``x``;
* on a block's ``z`` with the block's last batch norm folded in
  (``module(bn(z)) + residual``, training ``nn.BatchNorm2d``): runs the norm
  once (its own kernel, running statistics updated once), keeps only ``z``
  and the batch statistics, and in the backward rebuilds ``x = bn(z)`` in one
  affine pass (:func:`.kernels.affine_from_stats`), runs the module's
  backward and batch norm's backward kernel. The block then keeps no more
  for the backward than without attention, and nothing is recomputed but
  the norm's affine map.

A backward asked for a graph (``create_graph=True``) differentiates the
module's plain ops (``reference_forward``) under the forward's autocast
state, restoring the running statistics of the module's own norms.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .autograd import reference_grads
from .batch_norm import RunningStatisticsKept, batch_norm_train
from .kernels import affine_from_stats, batch_norm_backward


class FusedAttention(torch.autograd.Function):
    """``module(x) (+ residual)`` or ``module(norm(z)) (+ residual)`` by the module's fused passes.

    ``apply(inp, residual, norm, module, norm_weight, norm_bias, *params)``:
    ``norm`` is None (``inp`` is the module's input) or the block's
    ``nn.BatchNorm2d`` normalising with batch statistics (``inp`` is its
    input ``z``; ``norm_weight`` and ``norm_bias`` its parameters, else
    None); ``residual`` is None or added to the output; ``params`` are the
    module's parameters (in ``module.parameters()`` order), passed so that
    autograd routes their gradients here.
    """

    @staticmethod
    def forward(ctx, inp, residual, norm, module, norm_weight, norm_bias, *params):
        if norm is None:
            x, stats = inp, ()
        else:
            x, *stats = batch_norm_train(inp, norm)
        out, saved, state = module.fused_forward(x)
        del x
        if residual is not None:
            out = out.add_(residual)
        ctx.save_for_backward(inp, *stats, *saved)
        ctx.num_stats = len(stats)
        ctx.norm_eps = None if norm is None else norm.eps
        ctx.norm_params = (norm_weight, norm_bias)
        ctx.module, ctx.state, ctx.params = module, state, params
        ctx.autocast = (
            torch.is_autocast_enabled(inp.device.type),
            torch.get_autocast_dtype(inp.device.type),
        )
        return out

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        inp, *tensors = ctx.saved_tensors  # unpacked once (checkpointing)
        stats, saved = tensors[: ctx.num_stats], tuple(tensors[ctx.num_stats :])
        needs = ctx.needs_input_grad
        grad_residual = grad_out if needs[1] else None
        if torch.is_grad_enabled():  # create_graph=True: differentiate the plain ops
            grads = FusedAttention._reference_grads(ctx, inp, stats, grad_out)
            return (grads[0], grad_residual, None, None, *grads[1:])
        weight, bias = ctx.norm_params
        folded = ctx.norm_eps is not None
        need_x = needs[0] or (folded and (needs[4] or needs[5]))
        x = inp if not folded else affine_from_stats(inp, weight, bias, *stats)
        grad_x, param_grads = ctx.module.fused_backward(
            saved, ctx.state, x, grad_out, need_x, ctx.params, needs[6:]
        )
        del x
        grad_inp = grad_weight = grad_bias = None
        if not folded:
            grad_inp = grad_x if needs[0] else None
        elif need_x:
            mask = [needs[0], needs[4] and weight is not None, needs[5] and bias is not None]
            grad_inp, grad_weight, grad_bias = batch_norm_backward(
                grad_x, inp, weight, *stats, ctx.norm_eps, mask
            )
        return (grad_inp, grad_residual, None, None, grad_weight, grad_bias, *param_grads)

    @staticmethod
    def _reference_grads(ctx, inp: Tensor, stats: list, grad_out: Tensor) -> list:
        """Gradients (with a graph) of ``inp, norm_weight, norm_bias, *params`` by the plain ops."""
        module, eps = ctx.module, ctx.norm_eps
        enabled, dtype = ctx.autocast

        def reference(inp, weight, bias, *params):
            with torch.autocast(inp.device.type, dtype=dtype, enabled=enabled):
                x = inp
                if eps is not None:
                    x = F.batch_norm(inp, None, None, weight, bias, True, 0.0, eps)
                with RunningStatisticsKept(module):  # its own norms ran in the forward
                    return module.reference_forward(x)

        weight, bias = ctx.norm_params
        needs = ctx.needs_input_grad
        return reference_grads(
            reference,
            (inp, weight, bias, *ctx.params),
            (needs[0], needs[4], needs[5], *needs[6:]),
            grad_out,
        )


__all__ = ['FusedAttention']
