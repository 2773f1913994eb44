"""The attention slot's contract: what a slot module is and what a block asks of it.

A residual block with an attention slot (:class:`~se_plugin.models.SEBottleneck`,
:class:`~se_plugin.models.SEBasicBlock`, :class:`~se_plugin.models.SKBlock`)
builds its module from ``attn_cfg`` with ``in_channels`` filled in and, at the
``standard`` position (end of the residual branch), asks it for one thing,
through :func:`attend_after_norm`: ``module(norm(z)) + residual``, with ``z``
the branch before the block's last norm. At the other positions it calls the
module on a tensor. So a slot module:

* keeps the shape of its ``(N, in_channels, H, W)`` input (``forward``);
* may take over ``norm`` in :meth:`AttentionModule.forward_after_norm`, to
  fold it into a fused Function (SE, ECA, eSE) or to recompute both in the
  backward (``impl='recompute'``, any module: :mod:`.recompute`);
* has its paper's init in :meth:`AttentionModule.reset_parameters`, which
  the backbones call after their own init.

Any registered shape-keeping ``nn.Module`` taking ``in_channels`` fits the
slot (called plainly); subclassing :class:`AttentionModule` adds the modes
and the init. The built-in slot modules are the registered subclasses
(:func:`attention_layer_names`). :func:`se_plugin.testing.check_attention_module`
checks that a module, built-in or not, keeps this contract.
"""

from __future__ import annotations

from typing import Optional, Union

import torch.nn as nn
from mmengine.model import BaseModule
from torch import Tensor

from se_plugin.checks import check_choice, check_feature_map, check_int

from .fused.attention import FusedAttention
from .fused.autograd import fused_function_allowed, plain_ops_required
from .fused.batch_norm import uses_batch_statistics
from .recompute import recompute_after_norm


class AttentionModule(BaseModule):
    """Base class of the attention slot's modules.

    A subclass implements :meth:`forward` (shape-keeping), lists the
    implementation modes it offers in ``impls`` and passes its default
    ``impl`` to ``__init__``. The modes compute the same function with the
    same parameters and behave as the same module (hooks, checkpointing,
    higher-order and forward-mode AD, empty batches, tracing and export):

    * ``'reference'``: plain autograd over the textbook ops;
    * ``'recompute'``: in a block, the block's last norm and the module are
      recomputed in the backward from the norm's input (see
      :mod:`se_plugin.models.layers.recompute`), so the block keeps no more
      activation memory than without attention; on its own, the module runs
      its ``forward``;
    * ``'fused'`` (modules that offer it): hand-written autograd Functions.

    Args:
        in_channels (int): Channels of the input (and output).
        impl (str): One of the class's ``impls``. Default: 'reference'.
        init_cfg (dict | list[dict], optional): Initialization config; when
            given it replaces the paper's init (:meth:`reset_parameters`).
            Default: None.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> class Gate(AttentionModule):
        ...     def __init__(self, in_channels, impl='recompute', init_cfg=None):
        ...         super().__init__(in_channels, impl, init_cfg)
        ...         self.scale = nn.Parameter(torch.zeros(in_channels, 1, 1))
        ...     def forward(self, x):
        ...         return x * self.scale.sigmoid()
        >>> gate, norm = Gate(8), nn.BatchNorm2d(8)
        >>> z = torch.randn(2, 8, 5, 5, requires_grad=True)
        >>> gate.forward_after_norm(z, norm).shape  # gate(norm(z)), recomputed in the backward
        torch.Size([2, 8, 5, 5])
        >>> Gate(8, impl='fused')
        Traceback (most recent call last):
        ...
        ValueError: impl must be one of 'recompute', 'reference', got 'fused'
    """

    impls: tuple = ('recompute', 'reference')

    def __init__(
        self,
        in_channels: int,
        impl: str = 'reference',
        init_cfg: Optional[Union[dict, list]] = None,
    ) -> None:
        super().__init__(init_cfg)
        self.in_channels = check_int('in_channels', in_channels, minimum=1)
        self.impl = check_choice('impl', impl, self.impls)

    def forward(self, x: Tensor) -> Tensor:
        """The module on an ``(N, in_channels, H, W)`` input; the output has its shape."""
        raise NotImplementedError(f'{type(self).__name__} must implement forward(x)')

    def forward_after_norm(
        self, z: Tensor, norm: nn.Module, residual: Optional[Tensor] = None
    ) -> Tensor:
        """``self(norm(z)) (+ residual)``: what a block asks at the ``standard`` position.

        ``z`` is the residual branch before the block's last ``norm``,
        ``residual`` the shortcut (None when the block adds it itself, e.g.
        after a drop path). With ``impl='recompute'`` norm and module are
        recomputed in the backward where that keeps the semantics
        (:func:`~se_plugin.models.layers.recompute.recompute_after_norm`);
        otherwise the plain composition. A fast module overrides this to
        fold the norm into its own Function.
        """
        if self.impl == 'recompute':
            out = recompute_after_norm(z, norm, self)
        else:
            out = self(norm(z))
        return add_residual(out, residual)

    def reset_parameters(self) -> None:
        """The module's paper init (default: none beyond the layers' own).

        The backbones call it after their init on every slot module without an
        ``init_cfg`` of its own, and :meth:`init_weights` calls it.
        """

    def init_weights(self) -> None:
        """mmengine's init (``init_cfg``); without one, the paper's (:meth:`reset_parameters`)."""
        super().init_weights()
        if self.init_cfg is None:
            self.reset_parameters()

    def _check_input(self, x: Tensor) -> None:
        """A clear error for anything but an ``(N, in_channels, H, W)`` tensor."""
        check_feature_map(f'{type(self).__name__}({self.in_channels})', x, self.in_channels)


class FusedAttentionModule(AttentionModule):
    """A slot module with a hand-written backward (``impl='fused'``, the subclasses' default).

    A subclass implements, besides ``__init__``:

    * :meth:`reference_forward`: the module in plain ops (``impl='reference'``,
      and wherever a fast path may not run);
    * :meth:`fused_forward`: the same output without a graph through the
      input, and what its backward needs besides the input: ``saved``
      tensors (saved as autograd saves tensors: counted, offloaded or
      checkpointed with the rest) and a ``state`` of ``(N, C)``-sized tensors
      and small graphs (recorded in
      :func:`~se_plugin.models.layers.fused.autograd.small_graph`);
    * :meth:`fused_backward`: the gradients of the input and of the
      parameters from those, the input and the output's gradient.

    :class:`~se_plugin.models.layers.fused.attention.FusedAttention` runs
    them: on its own the module then keeps only its input for the backward;
    in a block, with the block's training ``nn.BatchNorm2d`` folded in, only
    the norm's input (as the block without attention), and the backward
    rebuilds the norm's output in one pass instead of recomputing the norm
    and the module (``impl='recompute'``, which the fused mode also takes
    where it cannot fold the norm). Wherever a fast path would change what
    the module does (hooks, graph capture or transforms, forward-mode AD, empty
    batches, see
    :func:`~se_plugin.models.layers.fused.autograd.plain_ops_required`),
    :meth:`reference_forward` runs.
    """

    impls: tuple = ('fused', 'recompute', 'reference')

    def reference_forward(self, x: Tensor) -> Tensor:
        """The module's output in plain ops (what every mode computes)."""
        raise NotImplementedError(f'{type(self).__name__} must implement reference_forward(x)')

    def fused_forward(self, x: Tensor) -> tuple:
        """``(output, saved, state)``: the output (a new tensor) and what the backward needs."""
        raise NotImplementedError(f'{type(self).__name__} must implement fused_forward(x)')

    def fused_backward(
        self,
        saved: tuple,
        state,
        x: Tensor,
        grad_out: Tensor,
        need_x: bool,
        params: tuple,
        need_params: tuple,
    ) -> tuple:
        """``(grad_x, param_grads)``: grad_x (None unless ``need_x``), one entry per ``params``.

        ``params`` are the module's parameters (``parameters()`` order),
        ``need_params`` which of them need a gradient.
        """
        raise NotImplementedError(f'{type(self).__name__} must implement fused_backward')

    def forward(self, x: Tensor) -> Tensor:
        self._check_input(x)
        params = tuple(self.parameters())
        if self.impl == 'fused' and self._fast(x) and fused_function_allowed(params, x):
            return FusedAttention.apply(x, None, None, self, None, None, *params)
        return self.reference_forward(x)

    def forward_after_norm(
        self, z: Tensor, norm: nn.Module, residual: Optional[Tensor] = None
    ) -> Tensor:
        """``self(norm(z)) (+ residual)``; ``impl='fused'`` folds a training ``nn.BatchNorm2d``.

        Where it cannot fold the norm (another norm, running statistics, no
        gradient to record, ...), ``impl='fused'`` recomputes as
        ``'recompute'`` does (which itself runs the plain composition where
        that would change the semantics).
        """
        if self.impl != 'fused':
            return super().forward_after_norm(z, norm, residual)
        params = tuple(self.parameters())
        if (
            uses_batch_statistics(norm)
            and self._fast(z, norm)
            and fused_function_allowed((*params, *norm.parameters()), z)
        ):
            self._check_input(z)
            return FusedAttention.apply(z, residual, norm, self, norm.weight, norm.bias, *params)
        return add_residual(recompute_after_norm(z, norm, self), residual)

    def _fast(self, x: Tensor, *modules: nn.Module) -> bool:
        return not plain_ops_required(x, self, *modules)


def attend_after_norm(
    module: Optional[nn.Module], z: Tensor, norm: nn.Module, residual: Optional[Tensor] = None
) -> Tensor:
    """``module(norm(z)) (+ residual)`` for whatever sits in a block's slot.

    An :class:`AttentionModule` computes it (:meth:`~AttentionModule.forward_after_norm`);
    any other module is called plainly on ``norm(z)``; None (an empty slot,
    or the module sits elsewhere) gives ``norm(z) (+ residual)``.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> z, norm = torch.randn(2, 4, 3, 3), nn.BatchNorm2d(4).eval()
        >>> out = attend_after_norm(nn.Sigmoid(), z, norm, residual=z)
        >>> torch.equal(out, torch.sigmoid(norm(z)) + z)
        True
    """
    if isinstance(module, AttentionModule):
        return module.forward_after_norm(z, norm, residual)
    if module is None:  # the plain residual block's ``out += identity``
        out = norm(z)
        return out if residual is None else out.add_(residual)
    return add_residual(module(norm(z)), residual)


def add_residual(out: Tensor, residual: Optional[Tensor]) -> Tensor:
    """``out += residual`` as a residual block adds its shortcut (the result in out's dtype).

    Written into ``out`` where no gradient is recorded; in training a new
    tensor, as a module's output may be saved by its own last op (a ReLU, a
    sigmoid).
    """
    if residual is None:
        return out
    if not out.requires_grad:
        return out.add_(residual)
    total = out + residual  # under autocast: computed in the wider dtype, like add_
    return total if total.dtype == out.dtype else total.to(out.dtype)


def attention_layer_names(registry=None) -> tuple:
    """Names of the built-in slot modules: se_plugin's registered :class:`AttentionModule` s.

    In registration order (the import order of :mod:`se_plugin.models.layers`).
    """
    if registry is None:
        from se_plugin.registry import MODELS as registry
    return tuple(
        name
        for name, cls in registry.module_dict.items()
        if isinstance(cls, type)
        and issubclass(cls, AttentionModule)
        and cls.__module__.startswith('se_plugin.')
    )


__all__ = [
    'AttentionModule',
    'FusedAttentionModule',
    'add_residual',
    'attend_after_norm',
    'attention_layer_names',
]
