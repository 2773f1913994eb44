"""Folder datasets whose splits disagree on the classes are refused, naming them."""

import pytest
from mmengine.config import Config

from se_plugin.runtime.data_checks import check_folder_classes, folder_classes
from se_plugin.runtime.errors import DataError


def _folders(root, splits):
    for split, classes in splits.items():
        for name in classes:
            (root / split / name).mkdir(parents=True)


def _cfg(root, **extra):
    def loader(prefix):
        return dict(
            dataset=dict(type='CustomDataset', data_root=str(root), data_prefix=prefix, **extra)
        )

    return Config(dict(train_dataloader=loader('train'), val_dataloader=loader('val')))


LOADERS = ['train_dataloader', 'val_dataloader']


def test_same_classes_pass(tmp_path):
    _folders(tmp_path, {'train': ['cat', 'dog'], 'val': ['dog', 'cat']})
    check_folder_classes(_cfg(tmp_path), LOADERS)
    assert folder_classes(_cfg(tmp_path).train_dataloader.dataset)[1] == ('cat', 'dog')


@pytest.mark.parametrize(
    'val, match',
    [
        (['cat'], 'only in the first: dog; only in the second: none'),
        (['cat', 'dog', 'fox'], 'only in the first: none; only in the second: fox'),
        (['cat', 'Dog'], 'only in the first: dog; only in the second: Dog'),
    ],
)
def test_different_classes_are_refused_naming_them(tmp_path, val, match):
    _folders(tmp_path, {'train': ['cat', 'dog'], 'val': val})
    with pytest.raises(DataError, match=match):
        check_folder_classes(_cfg(tmp_path), LOADERS)


def test_explicit_classes_or_annotation_files_are_not_compared(tmp_path):
    _folders(tmp_path, {'train': ['cat', 'dog'], 'val': ['cat']})
    check_folder_classes(_cfg(tmp_path, classes=['cat', 'dog']), LOADERS)
    check_folder_classes(_cfg(tmp_path, ann_file='meta.txt'), LOADERS)
