"""What the contract kit asks of se_plugin's attention slot: the block it puts a
module in, the module in that block's slot, and a module's implementation modes.

The kit's only contact with the slot's API (block arguments, the slot
attribute, the ``impl`` argument) is here.
"""

from __future__ import annotations

import inspect

from torch import nn

from se_plugin.models import SEBottleneck
from se_plugin.models.layers.se_layer import SE_IMPLS

# the implementation every other mode of a module is compared with
REFERENCE_IMPL = 'reference'


def implementation_modes(module: nn.Module) -> tuple:
    """The values ``module``'s ``impl`` argument takes; () for a module without one."""
    if 'impl' not in inspect.signature(type(module)).parameters:
        return ()
    return SE_IMPLS


def block_with(cfg: dict, channels: int, with_cp: bool = False) -> nn.Module:
    """A bottleneck (``channels`` in and out, expansion 1) with ``cfg``'s module in its slot,
    at the standard position (end of the residual branch, before the addition)."""
    return SEBottleneck(
        channels, channels, expansion=1, se_cfg=cfg, se_position='standard', with_cp=with_cp
    )


def slot_of(block: nn.Module) -> nn.Module:
    """The module in the slot of a block made by :func:`block_with`."""
    return block.se
