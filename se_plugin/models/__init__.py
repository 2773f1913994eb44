from .backbones import *  # noqa: F401,F403
from .backbones import __all__ as _backbones
from .inject import AttentionInjected, inject_attention
from .layers import *  # noqa: F401,F403
from .layers import __all__ as _layers
from .tta import AverageClsScoreTTA

__all__ = _layers + _backbones + ['AttentionInjected', 'AverageClsScoreTTA', 'inject_attention']
