"""se_plugin: Squeeze-and-Excitation and Selective Kernel attention for OpenMMLab.

Importing the package registers its modules in the ``se_plugin`` registries
(children of mmpretrain's) and, unless ``SE_PLUGIN_NO_INSTALL=1``, calls
:func:`se_plugin.runtime.install` (safe checkpoint loading through mmengine's
local loader, torch safe globals, a warnings filter for mmcv-lite). The
registered classes are also attributes of this package, which is how
``type='se_plugin.X'`` resolves from scopes outside mmpretrain's tree
(``mmdet``, ``mmseg``).
"""

from . import runtime

if runtime.install_on_import():  # SE_PLUGIN_NO_INSTALL=1 skips it
    runtime.install()  # before mmcv is imported: its warnings filter must come first

from .datasets import *  # noqa: E402,F401,F403
from .datasets import __all__ as _datasets  # noqa: E402
from .models import *  # noqa: E402,F401,F403
from .models import __all__ as _models  # noqa: E402
from .version import __version__  # noqa: E402

__all__ = ['__version__', *_models, *_datasets]
