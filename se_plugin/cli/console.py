"""What the tools' console leaves out unless ``--verbose``.

Every tool has ``--verbose`` (:class:`~se_plugin.cli.parser.ToolArgumentParser`).
Without it:

* the third-party warnings of :data:`THIRD_PARTY_WARNINGS` are hidden: notices
  about APIs that se_plugin or its dependencies use on purpose, which nothing on
  the command line can change;
* the Runner's console leaves out the config dump, the environment, the hook
  table, per-parameter optimizer listings and loader lines (the log file keeps
  them: :data:`se_plugin.runtime.runner.VERBOSE_ONLY`).

Warnings se_plugin can avoid are fixed where they arise instead of hidden: the
layers' Python-side input check is skipped while ``torch.jit.trace`` records
(:func:`se_plugin.checks.check_feature_map`), the DDP wrapper passes torch's
``forward_sync_buffers`` (:mod:`se_plugin.runtime.distributed`), the launcher
sets the thread variables mmengine would warn about (:mod:`.launch`).
"""

from __future__ import annotations

import warnings

__all__ = ['THIRD_PARTY_WARNINGS', 'quiet_console']

# (category, message regex, why it is not the user's business)
THIRD_PARTY_WARNINGS = (
    (
        FutureWarning,
        r'`torch\.jit\.\w+` is deprecated',
        'tools/export.py --format torchscript and the torchscript ONNX exporter use TorchScript',
    ),
    (
        UserWarning,
        r'pkg_resources is deprecated as an API',
        'mmengine resolves mmdet:: / mmseg:: / mmpretrain:: config bases with it (and mim)',
    ),
)


def quiet_console(verbose: bool) -> None:
    """Hide :data:`THIRD_PARTY_WARNINGS` unless ``verbose`` (for this process).

    Args:
        verbose (bool): The tool's ``--verbose``.

    Example:
        >>> import warnings
        >>> with warnings.catch_warnings(record=True) as seen:
        ...     quiet_console(verbose=False)
        ...     warnings.warn('`torch.jit.trace` is deprecated.', FutureWarning)
        >>> seen
        []
    """
    if verbose:
        return
    for category, message, _ in THIRD_PARTY_WARNINGS:
        warnings.filterwarnings('ignore', message=message, category=category)
