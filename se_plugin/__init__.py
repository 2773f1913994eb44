"""se_plugin: Squeeze-and-Excitation and Selective Kernel attention for OpenMMLab.

Importing the package registers its modules in the ``se_plugin`` registries
(children of mmpretrain's) and installs the safe checkpoint allow-list. The
registered classes are also attributes of this package, which is how
``type='se_plugin.X'`` resolves from scopes outside mmpretrain's tree
(``mmdet``, ``mmseg``).
"""

import warnings

# mmcv-lite (the default, pure Python mmcv) warns on import that its compiled
# deformable attention is missing; nothing in se_plugin uses it.
warnings.filterwarnings('ignore', message='Fail to import ``MultiScaleDeformableAttention``')

from . import runtime  # noqa: E402,F401  (safe checkpoint loading)
from .datasets import *  # noqa: E402,F401,F403
from .datasets import __all__ as _datasets  # noqa: E402
from .models import *  # noqa: E402,F401,F403
from .models import __all__ as _models  # noqa: E402
from .version import __version__  # noqa: E402

__all__ = ['__version__', *_models, *_datasets]
