"""One ResNet stage: its blocks and the projection shortcut of the first one."""

from __future__ import annotations

import numbers
from typing import Optional, Sequence, Union

import torch.nn as nn
from mmcv.cnn import build_conv_layer, build_norm_layer
from mmpretrain.models.backbones.resnet import get_expansion

from se_plugin.checks import check_odd, must


def _downsample(
    in_channels: int,
    out_channels: int,
    stride: int,
    avg_down: bool,
    kernel: int,
    conv_cfg: Optional[dict],
    norm_cfg: dict,
) -> nn.Sequential:
    """The projection shortcut of a stage's first block (see :class:`ResLayer`)."""
    modules = []
    conv_stride = stride
    if avg_down and stride != 1:
        conv_stride = 1
        modules.append(
            nn.AvgPool2d(kernel_size=stride, stride=stride, ceil_mode=True, count_include_pad=False)
        )
    if conv_stride == 1:
        kernel = 1
    modules.append(
        build_conv_layer(
            conv_cfg,
            in_channels,
            out_channels,
            kernel_size=kernel,
            stride=conv_stride,
            padding=(kernel - 1) // 2,
            bias=False,
        )
    )
    modules.append(build_norm_layer(norm_cfg, out_channels)[1])
    return nn.Sequential(*modules)


class ResLayer(nn.Sequential):
    """A ResNet stage: mmpretrain's ``ResLayer`` with ``down_kernel_size``.

    The same blocks, arguments, module names and state-dict keys as
    mmpretrain's. The first block's projection shortcut (when the stride or
    the width changes) is ``downsample = (conv, norm)``, or with ``avg_down``
    at stride > 1 ``(AvgPool2d(stride, ceil_mode), conv 1x1, norm)`` (the
    ResNet-D shortcut). ``down_kernel_size`` is the kernel of a strided
    projection conv (SENet-154, timm's ``down_kernel_size=3``: padding
    ``(k - 1) // 2``); a stride-1 projection stays 1x1, as in timm.

    Args:
        block (type): Residual block class.
        num_blocks (int): Number of blocks.
        in_channels (int): Input channels of the stage.
        out_channels (int): Output channels of each block.
        expansion (int, optional): ``out_channels / mid_channels``; None takes
            the block's. Default: None.
        stride (int): Stride of the first block. Default: 1.
        avg_down (bool): ResNet-D shortcut. Default: False.
        down_kernel_size (int): Odd kernel size of a strided projection conv;
            > 1 is refused with ``avg_down`` (timm's average-pool shortcut
            projects with a 1x1 conv). Default: 1.
        conv_cfg (dict, optional): Conv config. Default: None.
        norm_cfg (dict): Norm config. Default: dict(type='BN').
        drop_path_rate (float | Sequence[float]): Drop-path rate of every
            block, or one per block. Default: 0.
        **kwargs: Further arguments of every block.

    Example:
        >>> import torch
        >>> from se_plugin.models import SEBottleneck
        >>> stage = ResLayer(SEBottleneck, 2, 64, 256, stride=2, down_kernel_size=3)
        >>> stage[0].downsample[0].kernel_size
        (3, 3)
        >>> stage.eval()(torch.rand(1, 64, 8, 8)).shape
        torch.Size([1, 256, 4, 4])
    """

    def __init__(
        self,
        block: type,
        num_blocks: int,
        in_channels: int,
        out_channels: int,
        expansion: Optional[int] = None,
        stride: int = 1,
        avg_down: bool = False,
        down_kernel_size: int = 1,
        conv_cfg: Optional[dict] = None,
        norm_cfg: dict = dict(type='BN'),
        drop_path_rate: Union[float, Sequence[float]] = 0.0,
        **kwargs,
    ) -> None:
        kernel = check_odd('down_kernel_size', down_kernel_size)
        if kernel > 1 and avg_down:
            allowed = '1 with avg_down=True (the average-pool shortcut projects with a 1x1 conv)'
            raise ValueError(must('down_kernel_size', allowed, kernel))
        self.block = block
        self.expansion = get_expansion(block, expansion)
        rates = drop_path_rate
        if isinstance(rates, numbers.Real) and not isinstance(rates, bool):
            rates = [rates] * num_blocks
        if not isinstance(rates, (list, tuple)) or len(rates) != num_blocks:
            allowed = f'a number or a list of {num_blocks} (one per block)'
            raise ValueError(must('drop_path_rate', allowed, drop_path_rate))
        downsample = None
        if stride != 1 or in_channels != out_channels:
            downsample = _downsample(
                in_channels, out_channels, stride, avg_down, kernel, conv_cfg, norm_cfg
            )
        common = dict(expansion=self.expansion, conv_cfg=conv_cfg, norm_cfg=norm_cfg, **kwargs)
        layers = [
            block(
                in_channels=in_channels if i == 0 else out_channels,
                out_channels=out_channels,
                stride=stride if i == 0 else 1,
                downsample=downsample if i == 0 else None,
                drop_path_rate=rates[i],
                **common,
            )
            for i in range(num_blocks)
        ]
        super().__init__(*layers)
