"""Package attributes loaded on first use (PEP 562), so that importing a package
costs only what is used: a tool's ``--help`` does not import torch.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping, Sequence

__all__ = ['lazy_attributes']


def lazy_attributes(package: str, homes: Mapping[str, Sequence[str]]) -> tuple:
    """``(__all__, __getattr__, __dir__)`` for ``package``, whose public names
    live in its submodules and are imported when first read.

    Args:
        package (str): The package's ``__name__``.
        homes (Mapping[str, Sequence[str]]): Submodule -> the names it
            provides. A submodule is relative to ``package`` (``'checkpoint'``)
            or absolute (``'se_plugin.runtime.errors'``).

    Returns:
        tuple: ``__all__`` (the names, sorted), the module ``__getattr__`` and
        ``__dir__`` to assign in the package.

    Example:
        >>> import types
        >>> pkg = types.ModuleType('pkg')
        >>> names, pkg.__getattr__, pkg.__dir__ = lazy_attributes(
        ...     'pkg', {'os.path': ('join',)})
        >>> sys.modules['pkg'] = pkg
        >>> pkg.join('a', 'b'), names
        ('a/b', ['join'])
        >>> del sys.modules['pkg']
    """
    where = {name: module for module, names in homes.items() for name in names}

    def __getattr__(name: str):
        module = where.get(name)
        if module is None:
            raise AttributeError(f'module {package!r} has no attribute {name!r}')
        path = module if '.' in module else f'{package}.{module}'
        value = getattr(importlib.import_module(path), name)
        setattr(sys.modules[package], name, value)  # read once, then a plain attribute
        return value

    def __dir__() -> list:
        return sorted(set(vars(sys.modules[package])) | set(where))

    return sorted(where), __getattr__, __dir__
