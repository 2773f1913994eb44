from .base import AttentionModule, attend_after_norm, attention_layer_names
from .cbam import CBAM
from .channel_scale import ChannelScaleLayer
from .coord_attention import CoordAttention
from .eca import ECALayer
from .effective_se import EffectiveSELayer
from .functional import SQUEEZE_OPS, full_precision, squeeze
from .gather_excite import GatherExcite
from .global_context import GlobalContext
from .se_layer import SELayer
from .simam import SimAM
from .sk_conv import SKConv
from .srm import SRMLayer

# The built-in modules of the attention slot (``attn_cfg``, mmcv ``plugins``,
# ``AttentionInjected``): every registered AttentionModule imported above.
# SKConv replaces a conv instead.
ATTENTION_LAYERS = attention_layer_names()

__all__ = [
    'ATTENTION_LAYERS',
    'CBAM',
    'AttentionModule',
    'ChannelScaleLayer',
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
    'attend_after_norm',
    'attention_layer_names',
    'full_precision',
    'squeeze',
]
