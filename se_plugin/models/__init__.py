from .backbones import *  # noqa: F401,F403
from .backbones import __all__ as _backbones
from .inject import AttentionInjected, inject_attention
from .layers import *  # noqa: F401,F403
from .layers import __all__ as _layers

__all__ = _layers + _backbones + ['AttentionInjected', 'inject_attention']
