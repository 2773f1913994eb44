"""What the contract kit asks of se_plugin's attention slot: the block it puts a
module in, the module in that block's slot, a module's implementation modes,
whether the block recomputes it, and the plain composition it is compared with.

The kit's only contact with the slot's API (block arguments, the slot
attribute, the block's last norm, :class:`~se_plugin.models.AttentionModule`'s
``impls`` and ``forward_after_norm``, the recomputation's rule) is here.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn

from se_plugin.models import AttentionModule, SEBottleneck
from se_plugin.models.layers.recompute import recompute_applies

# the implementation every other mode of a module is compared with
REFERENCE_IMPL = 'reference'
# the mode that recomputes the block's last norm and the module in the backward
RECOMPUTE_IMPL = 'recompute'


def implementation_modes(module_type: type) -> tuple:
    """The values of the ``impl`` argument of an :class:`AttentionModule` subclass
    (``impls``); () for any other module, which has one implementation."""
    if isinstance(module_type, type) and issubclass(module_type, AttentionModule):
        return tuple(module_type.impls)
    return ()


def block_with(cfg: dict, channels: int, with_cp: bool = False) -> nn.Module:
    """A bottleneck (``channels`` in and out, expansion 1) with ``cfg``'s module in its slot,
    at the standard position (end of the residual branch, before the addition)."""
    return SEBottleneck(
        channels, channels, expansion=1, attn_cfg=cfg, attn_position='standard', with_cp=with_cp
    )


def slot_of(block: nn.Module) -> nn.Module:
    """The module in the slot of a block made by :func:`block_with`."""
    return block.attn


def recomputes(block: nn.Module) -> bool:
    """Whether, in a train step of ``block`` (made by :func:`block_with`), an
    ``impl='recompute'`` module in its slot is recomputed in the backward: the
    mechanism's own rule (:func:`recompute_applies`; e.g. not with hooks on the
    module or on the block's last norm)."""
    z = torch.ones(1, slot_of(block).in_channels, 1, 1, requires_grad=True)
    with torch.enable_grad():
        return recompute_applies(z, block.last_norm, slot_of(block))


def plain_composition(module: nn.Module) -> None:
    """Make the block call ``module`` plainly, in place: ``module(norm(z)) + residual``.

    What the contract defines the block's call to be, whatever the module's
    own :meth:`~AttentionModule.forward_after_norm` does (the truth it is
    compared with). A module that is no :class:`AttentionModule` is called
    plainly anyway.
    """
    if not isinstance(module, AttentionModule):
        return

    def forward_after_norm(z: Tensor, norm: nn.Module, residual: Optional[Tensor] = None):
        out = module(norm(z))
        return out if residual is None else out + residual

    module.forward_after_norm = forward_after_norm
