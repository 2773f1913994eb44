from .coord_attention import CoordAttention
from .gather_excite import GatherExcite
from .global_context import GlobalContext
from .se_layer import SQUEEZE_OPS, SELayer
from .sk_conv import SKConv
from .srm import SRMLayer

__all__ = [
    'CoordAttention',
    'GatherExcite',
    'GlobalContext',
    'SELayer',
    'SQUEEZE_OPS',
    'SKConv',
    'SRMLayer',
]
