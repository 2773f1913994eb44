"""The image files a prediction runs on: files as given, folders expanded."""

from __future__ import annotations

import os
import os.path as osp
from collections.abc import Sequence

from se_plugin.runtime.errors import DataError

__all__ = ['IMAGE_EXTENSIONS', 'list_images']

#: the file types mmpretrain's folder datasets read (``CustomDataset``, ``ImageNet``)
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif')


def _is_image(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXTENSIONS)


def _folder_images(folder: str) -> list:
    found = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        found.extend(osp.join(root, name) for name in sorted(files) if _is_image(name))
    if not found:
        raise DataError(
            f'no image files ({", ".join(IMAGE_EXTENSIONS)}) in folder {folder} or below'
        )
    return found


def list_images(paths: Sequence[str]) -> list:
    """Image files named by ``paths``: files as given, folders searched recursively
    (sorted, image extensions only).

    Args:
        paths (Sequence[str]): Image files and folders.

    Returns:
        list[str]: The image files, in the order given (folders expanded in place).

    Raises:
        DataError: A path that does not exist, a file that is not an image
            (by its extension), a folder without images, or no path at all.

    Example:
        >>> import os, tempfile
        >>> root = tempfile.mkdtemp()
        >>> for name in ('b.png', 'a.JPG', 'notes.txt'):
        ...     _ = open(os.path.join(root, name), 'w').write('')
        >>> [os.path.basename(p) for p in list_images([root])]
        ['a.JPG', 'b.png']
    """
    if isinstance(paths, str):
        paths = [paths]
    if not paths:
        raise DataError('no image files or folders given')
    images = []
    for path in paths:
        if osp.isdir(path):
            images.extend(_folder_images(path))
        elif not osp.exists(path):
            raise DataError(f'image file or folder not found: {path}')
        elif not _is_image(path):
            raise DataError(
                f'{path} is not an image file (extensions: {", ".join(IMAGE_EXTENSIONS)})'
            )
        else:
            images.append(path)
    return images
