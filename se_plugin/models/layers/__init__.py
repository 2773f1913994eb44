from .cbam import CBAM
from .coord_attention import CoordAttention
from .eca import ECALayer
from .effective_se import EffectiveSELayer
from .gather_excite import GatherExcite
from .global_context import GlobalContext
from .se_layer import SQUEEZE_OPS, SELayer
from .simam import SimAM
from .sk_conv import SKConv
from .srm import SRMLayer

# the shape-keeping modules of the attention slot (``se_cfg``, mmcv ``plugins``,
# ``AttentionInjected``), SE first; SKConv replaces a conv instead
ATTENTION_LAYERS = (
    'SELayer',
    'ECALayer',
    'EffectiveSELayer',
    'CBAM',
    'GatherExcite',
    'GlobalContext',
    'CoordAttention',
    'SimAM',
    'SRMLayer',
)

__all__ = [
    'ATTENTION_LAYERS',
    'CBAM',
    'CoordAttention',
    'ECALayer',
    'EffectiveSELayer',
    'GatherExcite',
    'GlobalContext',
    'SELayer',
    'SQUEEZE_OPS',
    'SKConv',
    'SRMLayer',
    'SimAM',
]
