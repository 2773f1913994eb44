"""What ``import se_plugin`` changes outside se_plugin, in one explicit call.

Besides making its modules available to the registries, ``import se_plugin``
(also what mmdet/mmseg configs get through ``custom_imports``) installs, through
:func:`install_when_imported`:

1. the allow-list of mmengine checkpoint globals in torch's ``weights_only``
   unpickler (``torch.serialization.add_safe_globals``; ``weights_only=False``
   is never used), see :mod:`.allow_list`;
2. se_plugin's loader for local checkpoint paths in mmengine's
   ``CheckpointLoader`` (scheme ``''``):
   :func:`~se_plugin.runtime.checkpoint.load_checkpoint_file`, which loads with
   ``weights_only=True`` and names an unsafe or corrupt file in one
   :class:`~se_plugin.runtime.checkpoint.CheckpointError`;
3. a warnings filter for mmcv-lite's import warning about its missing compiled
   ``MultiScaleDeformableAttention`` (nothing in se_plugin uses it).

``import se_plugin`` imports neither torch nor mmengine (a tool's ``--help``
stays instant): what is already imported is changed at once, the rest the moment
it is imported (1. when torch is, 2. when ``mmengine.runner.checkpoint`` is),
before anything can use it. :func:`install` does all three now.

Set ``SE_PLUGIN_NO_INSTALL=1`` before the import to only make the modules
available; :func:`install` can then be called explicitly. The tools install
themselves, so they behave the same either way.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Callable
from typing import Optional

__all__ = ['OPT_OUT_ENV', 'install', 'install_on_import', 'install_when_imported']

OPT_OUT_ENV = 'SE_PLUGIN_NO_INSTALL'

MMCV_LITE_WARNING = 'Fail to import ``MultiScaleDeformableAttention``'

# the module whose import makes each step possible
SAFE_GLOBALS_AFTER = 'torch'
LOADER_AFTER = 'mmengine.runner.checkpoint'
HISTORY_BUFFER = 'mmengine.logging.history_buffer'


def install_on_import() -> bool:
    """Whether ``import se_plugin`` installs (``SE_PLUGIN_NO_INSTALL`` unset or 0).

    Raises:
        ValueError: ``SE_PLUGIN_NO_INSTALL`` is set to something else than 0 or 1.
    """
    value = os.environ.get(OPT_OUT_ENV, '').strip()
    if value not in ('', '0', '1'):
        raise ValueError(
            f'{OPT_OUT_ENV}={value!r}: use 1 (import se_plugin without installing its '
            'checkpoint loader, safe globals and warnings filter) or 0 / unset'
        )
    return value != '1'


def install() -> None:
    """Install se_plugin's checkpoint loading and warnings filter now (idempotent).

    Example:
        >>> from mmengine.runner.checkpoint import CheckpointLoader
        >>> from se_plugin.runtime import install
        >>> install()
        >>> CheckpointLoader._schemes[''].__module__
        'se_plugin.runtime.checkpoint'
    """
    warnings.filterwarnings('ignore', message=MMCV_LITE_WARNING)
    from .allow_list import install_safe_globals
    from .checkpoint import register_checkpoint_loader

    install_safe_globals()
    register_checkpoint_loader()


def install_when_imported() -> None:
    """:func:`install`, each step once what it changes is imported (idempotent).

    Imports nothing heavy itself: what is loaded already is changed now, the
    rest right after its module is first imported (an import hook that removes
    itself when both steps are done).

    Example:
        >>> import torch, sys
        >>> from se_plugin.runtime import install_when_imported
        >>> install_when_imported()  # torch is loaded: its allow-list is in place
        >>> 'se_plugin.runtime.allow_list' in sys.modules
        True
    """
    warnings.filterwarnings('ignore', message=MMCV_LITE_WARNING)
    steps = {SAFE_GLOBALS_AFTER: _install_safe_globals, LOADER_AFTER: _install_loader}
    for module, step in steps.items():
        if not step(None):
            _WATCHER.watch(module, step)


def _loaded(name: str, just_loaded: Optional[str]) -> bool:
    """Whether module ``name`` is fully imported (``just_loaded``: the module
    whose import has just run, still flagged as initializing)."""
    module = sys.modules.get(name)
    if module is None:
        return False
    return name == just_loaded or not getattr(module.__spec__, '_initializing', False)


def _install_safe_globals(just_loaded: Optional[str]) -> bool:
    """Step 1 once torch is imported; mmengine's history buffer is imported for
    it unless mmengine is being imported right now (then it waits for that)."""
    if not _loaded(SAFE_GLOBALS_AFTER, just_loaded):
        return False
    mmengine_importing = 'mmengine' in sys.modules and not _loaded('mmengine', just_loaded)
    if mmengine_importing and not _loaded(HISTORY_BUFFER, just_loaded):
        _WATCHER.watch(HISTORY_BUFFER, _install_safe_globals)
        return True  # handed over to the history buffer's import
    from .allow_list import install_safe_globals

    install_safe_globals()
    return True


def _install_loader(just_loaded: Optional[str]) -> bool:
    if not _loaded(LOADER_AFTER, just_loaded):
        return False
    from .checkpoint import register_checkpoint_loader

    register_checkpoint_loader()
    return True


class _ImportWatcher:
    """A ``sys.meta_path`` finder that runs a callback right after a module's first import.

    It finds nothing itself: for a watched name it asks the other finders for
    the spec and wraps that spec's loader's ``exec_module`` (on the loader
    instance, so the module's ``__loader__`` stays the real one).
    """

    def __init__(self) -> None:
        self.callbacks: dict = {}

    def watch(self, name: str, callback: Callable[[Optional[str]], bool]) -> None:
        self.callbacks.setdefault(name, [])
        if callback not in self.callbacks[name]:
            self.callbacks[name].append(callback)
        if self not in sys.meta_path:
            sys.meta_path.insert(0, self)

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in self.callbacks:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, 'find_spec'):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        if loader is not None and hasattr(loader, 'exec_module'):
            callbacks = self.callbacks.pop(fullname)
            if not self.callbacks:
                sys.meta_path.remove(self)
            loader.exec_module = _then(loader, fullname, callbacks)
        return spec


def _then(loader, name: str, callbacks: list) -> Callable:
    exec_module = loader.exec_module

    def exec_then_install(module) -> None:
        exec_module(module)
        del loader.exec_module  # the class's method again
        for callback in callbacks:
            callback(name)

    return exec_then_install


_WATCHER = _ImportWatcher()
