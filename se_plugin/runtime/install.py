"""What ``import se_plugin`` changes outside se_plugin, in one explicit call.

Besides registering its modules, ``import se_plugin`` (also what mmdet/mmseg
configs get through ``custom_imports``) calls :func:`install`, which:

1. adds the allow-list of mmengine checkpoint globals to torch's
   ``weights_only`` unpickler (``torch.serialization.add_safe_globals``;
   ``weights_only=False`` is never used), see :mod:`.checkpoint`;
2. replaces mmengine's loader for local checkpoint paths
   (``CheckpointLoader`` scheme ``''``) by
   :func:`~se_plugin.runtime.checkpoint.load_checkpoint_file`, which loads with
   ``weights_only=True`` and names an unsafe or corrupt file in one
   :class:`~se_plugin.runtime.checkpoint.CheckpointError`;
3. hides mmcv-lite's import warning about its missing compiled
   ``MultiScaleDeformableAttention`` (nothing in se_plugin uses it).

Set ``SE_PLUGIN_NO_INSTALL=1`` before the import to only register the modules;
:func:`install` can then be called explicitly. The tools call it themselves,
so they behave the same either way.
"""

from __future__ import annotations

import os
import warnings

from .checkpoint import install_safe_globals, register_checkpoint_loader

__all__ = ['OPT_OUT_ENV', 'install', 'install_on_import']

OPT_OUT_ENV = 'SE_PLUGIN_NO_INSTALL'

MMCV_LITE_WARNING = 'Fail to import ``MultiScaleDeformableAttention``'


def install_on_import() -> bool:
    """Whether ``import se_plugin`` calls :func:`install` (``SE_PLUGIN_NO_INSTALL`` unset or 0).

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
    """Install se_plugin's checkpoint loading and warnings filter (idempotent).

    Example:
        >>> from mmengine.runner.checkpoint import CheckpointLoader
        >>> from se_plugin.runtime import install
        >>> install()
        >>> CheckpointLoader._schemes[''].__module__
        'se_plugin.runtime.checkpoint'
    """
    warnings.filterwarnings('ignore', message=MMCV_LITE_WARNING)
    install_safe_globals()
    register_checkpoint_loader()
