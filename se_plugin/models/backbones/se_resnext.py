"""SE-ResNeXt backbone (SENet, arXiv 1709.01507; ResNeXt, arXiv 1611.05431)."""

from __future__ import annotations

from se_plugin.checks import check_int
from se_plugin.registry import MODELS

from .blocks import SEBottleneck
from .se_resnet import SEResNet


@MODELS.register_module()
class SEResNeXt(SEResNet):
    """SE-ResNeXt backbone: SE-ResNet with grouped 3x3 convolutions.

    Args:
        depth (int): 50, 101 or 152.
        groups (int): Groups (cardinality) of the 3x3 convs. Default: 32.
        width_per_group (int): Width of each group at the first stage; 32x4d
            means ``groups=32, width_per_group=4``. Default: 4.
        **kwargs: Arguments of :class:`SEResNet` (``attn_cfg``,
            ``attn_position``, ``attn_stages``, ``stem_type``,
            ``stage_blocks``, ``deep_stem_channels``, ``stem_pool``,
            ``anti_alias``, ``down_kernel_size``, ``reduce_first``) and of
            mmpretrain's ``ResNet``.

    Example:
        >>> import torch
        >>> from se_plugin.models import SEResNeXt
        >>> model = SEResNeXt(depth=50, out_indices=(0, 1, 2, 3)).eval()
        >>> outputs = model(torch.rand(1, 3, 64, 64))
        >>> [tuple(out.shape) for out in outputs]
        [(1, 256, 16, 16), (1, 512, 8, 8), (1, 1024, 4, 4), (1, 2048, 2, 2)]
    """

    arch_settings = {
        50: (SEBottleneck, (3, 4, 6, 3)),
        101: (SEBottleneck, (3, 4, 23, 3)),
        152: (SEBottleneck, (3, 8, 36, 3)),
    }

    def __init__(self, depth: int, groups: int = 32, width_per_group: int = 4, **kwargs) -> None:
        self.groups = check_int('groups', groups, minimum=1)
        self.width_per_group = check_int('width_per_group', width_per_group, minimum=1)
        super().__init__(depth, **kwargs)

    def block_kwargs(self) -> dict:
        return dict(
            super().block_kwargs(),
            groups=self.groups,
            width_per_group=self.width_per_group,
            base_channels=self.base_channels,
        )
