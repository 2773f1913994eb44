"""se_plugin: Squeeze-and-Excitation and Selective Kernel attention for OpenMMLab.

Importing the package registers its modules in the ``se_plugin`` registries
(children of mmpretrain's) and installs the safe checkpoint allow-list. The
registered classes are also attributes of this package, which is how
``type='se_plugin.X'`` resolves from scopes outside mmpretrain's tree
(``mmdet``, ``mmseg``).
"""

from . import runtime  # noqa: F401  (safe checkpoint loading)
from .datasets import *  # noqa: F401,F403
from .datasets import __all__ as _datasets
from .models import *  # noqa: F401,F403
from .models import __all__ as _models
from .version import __version__

__all__ = ['__version__', *_models, *_datasets]
