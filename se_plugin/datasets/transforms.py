"""Image loading that names the bad file.

mmcv's ``LoadImageFromFile`` reports an undecodable image (a corrupt or
truncated PNG/JPEG, a text file named ``.jpg``) with ``assert img is not None``
and a decoder error with whatever the decoder raised, so a folder dataset with
one bad file stops training with an ``AssertionError`` traceback from deep in
the data loader. The subclass registered here under the same name in the
``se_plugin`` scope raises :class:`ImageLoadError` (a user error and ``ValueError``) naming the
file instead; configs with ``default_scope = 'se_plugin'`` get it for
``type='LoadImageFromFile'`` without any change. With ``ignore_empty=True``
it returns None as mmcv does (the dataset then picks another sample).
OpenCV's own log lines about the broken file (``[ WARN:0] global
grfmt_png.cpp ...``), which would be printed to stderr beside that error, are
silenced while an image is decoded.
"""

from __future__ import annotations

import contextlib
import os.path as osp
from typing import Optional

import cv2
from mmcv.transforms import LoadImageFromFile as _LoadImageFromFile

from se_plugin.registry import TRANSFORMS
from se_plugin.runtime.errors import DataError

__all__ = ['ImageLoadError', 'LoadImageFromFile']


@contextlib.contextmanager
def _quiet_opencv():
    """Silence OpenCV's native logging (it writes straight to stderr) for a decode."""
    try:
        from cv2.utils import logging as cv_logging
    except ImportError:  # pragma: no cover - opencv without its logging module
        yield
        return
    level = cv_logging.getLogLevel()
    cv_logging.setLogLevel(cv_logging.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        cv_logging.setLogLevel(level)


_DECODER_ERRORS = (OSError, ValueError, SyntaxError, cv2.error)


class ImageLoadError(DataError):
    """An image file that cannot be read or decoded."""


@TRANSFORMS.register_module()
class LoadImageFromFile(_LoadImageFromFile):
    """mmcv's ``LoadImageFromFile`` whose errors name the file (same arguments).

    Example:
        >>> import os, tempfile
        >>> from se_plugin.datasets.transforms import LoadImageFromFile
        >>> path = os.path.join(tempfile.mkdtemp(), 'bad.png')
        >>> _ = open(path, 'wb').write(b'not a png')
        >>> LoadImageFromFile()(dict(img_path=path))
        Traceback (most recent call last):
        ...
        se_plugin.datasets.transforms.ImageLoadError: cannot decode image .../bad.png: ...
    """

    def transform(self, results: dict) -> Optional[dict]:
        filename = results.get('img_path')
        try:
            with _quiet_opencv():
                return super().transform(results)
        except FileNotFoundError:
            raise ImageLoadError(f'image file not found: {filename}') from None
        except AssertionError:  # mmcv: the decoder returned None
            raise ImageLoadError(
                f'cannot decode image {filename}: the file is corrupt, truncated or not an '
                f'image ({self.imdecode_backend} decoder)'
            ) from None
        except _DECODER_ERRORS as err:  # pillow's OSError/SyntaxError, cv2.error (0 bytes)
            if isinstance(filename, str) and osp.isfile(filename) and not osp.getsize(filename):
                raise ImageLoadError(
                    f'cannot decode image {filename}: the file is empty (0 bytes)'
                ) from None
            reason = ' '.join(str(err).split()) or type(err).__name__
            raise ImageLoadError(
                f'cannot decode image {filename}: {type(err).__name__}: {reason}'
            ) from None
