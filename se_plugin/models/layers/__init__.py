from .se_layer import SQUEEZE_OPS, SELayer
from .sk_conv import SKConv

__all__ = ['SELayer', 'SQUEEZE_OPS', 'SKConv']
