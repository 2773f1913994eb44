from .cbam import CBAM
from .eca import ECALayer
from .effective_se import EffectiveSELayer
from .se_layer import SQUEEZE_OPS, SELayer
from .simam import SimAM
from .sk_conv import SKConv

__all__ = ['CBAM', 'ECALayer', 'EffectiveSELayer', 'SELayer', 'SQUEEZE_OPS', 'SKConv', 'SimAM']
