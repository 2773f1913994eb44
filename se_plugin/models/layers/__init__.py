from .se_layer import SQUEEZE_OPS, SELayer

__all__ = ['SELayer', 'SQUEEZE_OPS']
