"""When a fused ``autograd.Function`` may run, and the parts every one of them shares.

A fused Function is a speed path only: it must compute what the plain
module computes and behave as the same module. So it runs only where it can
(:func:`fused_function_allowed`), and otherwise the caller takes the plain
ops, which tracing, export, ``torch.func`` and forward-mode AD all see and
differentiate as usual:

* eager mode with a gradient to record: not while ``torch.jit`` traces or
  scripts, ``torch.compile``/``torch.export`` capture (Inductor fuses the
  plain graph itself), a ``torch.func`` transform runs, or forward-mode AD
  is active; not for empty batches (``N = 0``);
* hooks: callers check :func:`has_hooks` on every module whose call the
  Function would replace, and take the modules' own calls where there are.

:func:`plain_ops_required` joins the conditions under which no speed path
(neither a fused Function nor the recomputation of
:mod:`se_plugin.models.layers.recompute`) may run.

Inside a Function, the small ``(N, C)`` graph from the pooled values to the
attention weights is recorded in :func:`small_graph` and differentiated by
:func:`small_graph_grads` in the backward; its saved tensors bypass saved-tensor
hooks, so gradient checkpointing does not recompute the block a second time for
that nested backward. A backward asked for a graph (``create_graph=True``:
gradient penalties, double backward) differentiates the plain formula instead
(:func:`reference_grads`), so higher-order gradients are those of the reference.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Sequence

import torch
import torch.nn as nn
from torch import Tensor

_module_hooks = torch.nn.modules.module
_GLOBAL_HOOKS = (
    '_global_forward_hooks',
    '_global_forward_pre_hooks',
    '_global_backward_hooks',
    '_global_backward_pre_hooks',
)


def _functorch_active() -> bool:
    """Whether a ``torch.func`` transform (grad, vjp, jvp, vmap, ...) is running."""
    functorch = getattr(torch._C, '_functorch', None)
    peek = getattr(functorch, 'peek_interpreter_stack', None)
    return peek is not None and peek() is not None


def _forward_ad_active() -> bool:
    """Whether forward-mode AD (``torch.autograd.forward_ad.dual_level``) is active."""
    level = getattr(torch.autograd.forward_ad, '_current_level', -1)
    return level is not None and level >= 0


def _is_exporting() -> bool:
    exporting = getattr(torch.compiler, 'is_exporting', None)
    return exporting is not None and exporting()


def plain_graph_required() -> bool:
    """Whether something records or transforms the graph, so that only plain ops may run."""
    return (
        torch.jit.is_tracing()
        or torch.jit.is_scripting()
        or torch.compiler.is_compiling()
        or _is_exporting()
        or _functorch_active()
        or _forward_ad_active()
    )


def fused_function_allowed(params: Iterable[Tensor], *tensors: Tensor) -> bool:
    """Whether a fused Function may replace the plain ops on 4-D ``tensors``.

    Eager mode, gradients enabled and needed by ``tensors`` or ``params``,
    no graph capture or transform (:func:`plain_graph_required`), non-empty.
    """
    if not torch.is_grad_enabled() or plain_graph_required():
        return False
    if any(t.dim() != 4 or t.numel() == 0 for t in tensors):
        return False
    return any(t.requires_grad for t in tensors) or any(p.requires_grad for p in params)


def has_hooks(*modules: nn.Module) -> bool:
    """Whether any of ``modules`` or their submodules, or the global registry, has hooks.

    Forward, forward-pre and (full) backward hooks: a fused path that calls
    no module would skip them.
    """
    if any(getattr(_module_hooks, name, None) for name in _GLOBAL_HOOKS):
        return True
    for module in modules:
        for sub in module.modules():
            if (
                sub._forward_hooks
                or sub._forward_pre_hooks
                or sub._backward_hooks
                or sub._backward_pre_hooks
            ):
                return True
    return False


def plain_ops_required(x: Tensor, *modules: nn.Module) -> bool:
    """Whether only the plain ops may run on ``x``, whatever a module's ``impl`` says.

    A graph being captured or transformed (:func:`plain_graph_required`), an
    empty batch, or a hook on one of ``modules`` (or a global one), which a
    speed path would skip or fire twice. A module adds its own
    ``impl == 'reference'``.
    """
    return plain_graph_required() or x.numel() == 0 or has_hooks(*modules)


def _keep(tensor: Tensor) -> Tensor:
    return tensor


@contextlib.contextmanager
def small_graph():
    """Record a Function's small ``(N, C)`` graph inside its forward.

    Gradients on; saved tensors kept as they are (not given to an enclosing
    ``saved_tensors_hooks``, e.g. checkpointing's, which would recompute the
    whole block again when the backward differentiates this graph).
    """
    with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(_keep, _keep):
        yield


def small_graph_grads(
    output: Tensor, grad: Tensor, leaves: Sequence, params: Sequence, need_params: Sequence
) -> tuple:
    """Backward through a Function's small graph (pooled values -> weights).

    Returns the gradients of ``leaves`` (a list, empty when ``leaves`` is) and
    one entry per parameter: its gradient, or None where ``need_params`` says
    it is not needed. The graph is retained: it lives and dies with the
    Function's node, so ``retain_graph=True`` backward passes work.
    """
    inputs = [*leaves, *(p for p, need in zip(params, need_params) if need)]
    if not inputs:
        return [], [None] * len(need_params)
    grad = grad.to(output.dtype)
    grads = torch.autograd.grad(output, inputs, grad, retain_graph=True, allow_unused=True)
    param_grads = iter(grads[len(leaves) :])
    return list(grads[: len(leaves)]), [next(param_grads) if need else None for need in need_params]


def reference_grads(
    reference: Callable[..., Tensor], inputs: Sequence, needs: Sequence, grad_out: Tensor
) -> list:
    """Gradients of ``reference(*inputs)`` with a graph: a backward with ``create_graph=True``.

    ``inputs`` are the Function's saved inputs (connected to the graph in such
    a backward); entries whose ``needs`` is false get None.
    """
    wanted = [t for t, need in zip(inputs, needs) if need]
    if not wanted:
        return [None] * len(needs)
    with torch.enable_grad():
        out = reference(*inputs)
    grads = iter(torch.autograd.grad(out, wanted, grad_out, create_graph=True, allow_unused=True))
    return [next(grads) if need else None for need in needs]
