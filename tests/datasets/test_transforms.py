"""LoadImageFromFile: mmcv's transform whose errors name the bad file."""

import cv2
import numpy as np
import pytest
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS

from se_plugin.datasets import ImageLoadError, LoadImageFromFile
from se_plugin.registry import TRANSFORMS
from se_plugin.runtime.errors import DataError

BACKENDS = ['cv2', 'pillow']


@pytest.fixture
def good_png(tmp_path):
    path = tmp_path / 'good.png'
    image = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)
    assert cv2.imwrite(str(path), image)
    return path


def test_registered_under_the_mmcv_name_in_se_plugin_scope():
    assert TRANSFORMS.get('LoadImageFromFile') is LoadImageFromFile
    assert MMENGINE_TRANSFORMS.get('LoadImageFromFile') is not LoadImageFromFile


@pytest.mark.parametrize('backend', BACKENDS)
def test_good_image_loads_as_mmcv_does(backend, good_png):
    results = LoadImageFromFile(imdecode_backend=backend)(dict(img_path=str(good_png)))
    assert results['img'].shape == (4, 5, 3) and results['ori_shape'] == (4, 5)


@pytest.mark.parametrize('backend', BACKENDS)
@pytest.mark.parametrize(
    'content, match',
    [
        (None, 'image file not found: '),
        (b'', r'the file is empty \(0 bytes\)'),
        (b'not a png at all', 'cannot decode image '),
        (b'\x89PNG\r\n\x1a\n' + b'\x00' * 20, 'cannot decode image '),
    ],
    ids=['missing', 'empty', 'text', 'truncated'],
)
def test_bad_file_raises_one_data_error_naming_it(backend, content, match, tmp_path):
    path = tmp_path / 'bad.png'
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ImageLoadError, match=match) as info:
        LoadImageFromFile(imdecode_backend=backend)(dict(img_path=str(path)))
    message = str(info.value)
    assert str(path) in message and '\n' not in message
    assert isinstance(info.value, DataError) and isinstance(info.value, ValueError)


@pytest.mark.parametrize('backend', BACKENDS)
def test_ignore_empty_returns_none_for_a_missing_file(backend, tmp_path):
    transform = LoadImageFromFile(imdecode_backend=backend, ignore_empty=True)
    assert transform(dict(img_path=str(tmp_path / 'missing.png'))) is None
