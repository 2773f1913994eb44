"""Test helpers for users of se_plugin (importable without pytest).

:func:`check_attention_module` checks that a module, yours or a built-in one,
keeps the contract of the attention slot; ``PROPERTIES`` names what it checks.
"""

from .contract import PROPERTIES, check_attention_module

__all__ = ['PROPERTIES', 'check_attention_module']
