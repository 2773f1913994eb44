from .blocks import ATTN_POSITIONS, AttentionSlotMixin, SEBasicBlock, SEBottleneck
from .se_densenet import SEDenseNet
from .se_resnet import SEResNet
from .se_resnext import SEResNeXt
from .sknet import SKBasicBlock, SKBlock, SKNet

__all__ = [
    'ATTN_POSITIONS',
    'AttentionSlotMixin',
    'SEBasicBlock',
    'SEBottleneck',
    'SEDenseNet',
    'SEResNet',
    'SEResNeXt',
    'SKBasicBlock',
    'SKBlock',
    'SKNet',
]
