"""Quieting mmengine's logger around steps whose INFO lines are noise on a console."""

from __future__ import annotations

import logging
from contextlib import contextmanager

__all__ = ['quiet_mmengine']


@contextmanager
def quiet_mmengine(level: int = logging.WARNING):
    """Raise mmengine's current logger to ``level`` inside the ``with`` body.

    Model building logs every parameter's initialisation and checkpoint loads
    log their backend; tools that print their own result hide those lines.

    Args:
        level (int): The least level still shown. Default: ``logging.WARNING``.

    Example:
        >>> from mmengine.logging import print_log
        >>> with quiet_mmengine():
        ...     print_log('hidden', logger='current')
    """
    from mmengine.logging import MMLogger

    logger = MMLogger.get_current_instance()
    previous = logger.level
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(previous)
