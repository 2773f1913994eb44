"""se_plugin.apis.images: which files a prediction runs on."""

import pytest

from se_plugin.apis import IMAGE_EXTENSIONS, list_images
from se_plugin.runtime.errors import DataError


def test_files_and_folders(tmp_path):
    (tmp_path / 'cats').mkdir()
    for name in ('cats/b.png', 'cats/a.JPEG', 'cats/notes.txt', 'z.jpg'):
        (tmp_path / name).write_bytes(b'')
    files = list_images([str(tmp_path / 'z.jpg'), str(tmp_path)])
    assert [p.replace(str(tmp_path), '') for p in files] == [
        '/z.jpg',
        '/z.jpg',  # a folder's own files first, then its subfolders'
        '/cats/a.JPEG',
        '/cats/b.png',
    ]
    assert '.png' in IMAGE_EXTENSIONS


@pytest.mark.parametrize(
    'make, message',
    [
        (lambda root: root / 'missing.png', 'image file or folder not found'),
        (lambda root: _touch(root / 'notes.txt'), 'is not an image file (extensions: .jpg'),
        (lambda root: _mkdir(root / 'empty'), 'no image files (.jpg'),
    ],
)
def test_bad_paths(tmp_path, make, message):
    with pytest.raises(DataError, match=None) as info:
        list_images([str(make(tmp_path))])
    assert message in str(info.value)
    with pytest.raises(DataError, match='no image files or folders given'):
        list_images([])


def _touch(path):
    path.write_bytes(b'x')
    return path


def _mkdir(path):
    path.mkdir()
    return path
