"""se_plugin: Squeeze-and-Excitation and Selective Kernel attention for OpenMMLab.

Importing the package registers its modules in the ``se_plugin`` registries
(children of mmpretrain's) and, unless ``SE_PLUGIN_NO_INSTALL=1``, calls
:func:`se_plugin.runtime.install` (safe checkpoint loading through mmengine's
local loader, torch safe globals, a warnings filter for mmcv-lite). The
registered classes are also attributes of this package, which is how
``type='se_plugin.X'`` resolves from scopes outside mmpretrain's tree
(``mmdet``, ``mmseg``).
"""

from importlib.util import find_spec

# mmcv is not among the install requirements (a full mmcv must never be replaced by
# mmcv-lite, and a wheel cannot tell which one a user has): ask for it in one line
MMCV_REQUIREMENT = 'mmcv>=2.0.0,<2.2.0'
if find_spec('mmcv') is None:
    raise ImportError(
        f'se_plugin needs {MMCV_REQUIREMENT} and none is installed: pip install ".[lite]" in '
        f'se_plugin\'s checkout (pure-Python mmcv-lite) or mim install "{MMCV_REQUIREMENT}" '
        '(full mmcv with compiled ops, as mmdet/mmseg need)'
    )

from . import runtime  # noqa: E402

if runtime.install_on_import():  # SE_PLUGIN_NO_INSTALL=1 skips it
    runtime.install()  # before mmcv is imported: its warnings filter must come first

from .datasets import *  # noqa: E402,F401,F403
from .datasets import __all__ as _datasets  # noqa: E402
from .models import *  # noqa: E402,F401,F403
from .models import __all__ as _models  # noqa: E402
from .version import __version__  # noqa: E402

__all__ = ['__version__', *_models, *_datasets]
