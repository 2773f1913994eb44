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


__all__ = ['AttentionModule', 'add_residual', 'attend_after_norm', 'attention_layer_names']
