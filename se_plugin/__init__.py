"""se_plugin: Squeeze-and-Excitation and Selective Kernel attention for OpenMMLab.

Importing the package is light: it imports neither torch nor mmengine. Its
modules are registered in the ``se_plugin`` registries (children of
mmpretrain's) when a registry first looks them up (the registries' import
``locations``), and the registered classes are attributes of this package,
imported on first use (``se_plugin.SEResNet``), which is how
``type='se_plugin.X'`` resolves from scopes outside mmpretrain's tree
(``mmdet``, ``mmseg``). Unless ``SE_PLUGIN_NO_INSTALL=1``, the import installs
se_plugin's safe checkpoint loading (:mod:`se_plugin.runtime.install`: at once
for what is already imported, the rest when torch and mmengine are).
"""

import importlib
import importlib.util

# mmcv is not among the install requirements (a full mmcv must never be replaced by
# mmcv-lite, and a wheel cannot tell which one a user has): ask for it in one line
MMCV_REQUIREMENT = 'mmcv>=2.0.0,<2.2.0'
if importlib.util.find_spec('mmcv') is None:
    raise ImportError(
        f'se_plugin needs {MMCV_REQUIREMENT} and none is installed: pip install ".[lite]" in '
        f'se_plugin\'s checkout (pure-Python mmcv-lite) or mim install "{MMCV_REQUIREMENT}" '
        '(full mmcv with compiled ops, as mmdet/mmseg need)'
    )

from . import runtime  # noqa: E402
from .version import __version__ as __version__  # noqa: E402

if runtime.install_on_import():  # SE_PLUGIN_NO_INSTALL=1 skips it
    runtime.install_when_imported()  # before mmcv is imported: its warnings filter comes first

# the subpackages whose public names are this package's
_PUBLIC_FROM = ('models', 'datasets')


def _public_modules() -> list:
    return [importlib.import_module(f'{__name__}.{name}') for name in _PUBLIC_FROM]


def __getattr__(name: str):
    if name == '__all__':
        return ['__version__', *(n for module in _public_modules() for n in module.__all__)]
    if name.startswith('__'):
        raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
    if importlib.util.find_spec(f'{__name__}.{name}') is not None:
        return importlib.import_module(f'{__name__}.{name}')
    for module in _public_modules():
        if name in module.__all__:
            value = getattr(module, name)
            globals()[name] = value
            return value
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


def __dir__() -> list:
    return sorted(set(globals()) | set(__getattr__('__all__')))
