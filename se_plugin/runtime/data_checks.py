"""Data checks before anything runs: data roots that exist, and folder
datasets whose splits agree on the classes.

mmpretrain's ``CustomDataset`` without an annotation file takes its classes
from the sub-folder names of each split, sorted: a ``val/`` with a class folder
fewer (or one more, or one spelt differently) than ``train/`` gives the same
label index different meanings in the two splits, silently. That is a
:class:`~se_plugin.runtime.errors.DataError` naming the classes.
"""

from __future__ import annotations

import os
import os.path as osp
from collections.abc import Iterable, Mapping
from typing import Any, Optional

from mmengine.config import Config

from .errors import DataError

__all__ = ['check_data_roots', 'check_folder_classes', 'folder_classes']

_FOLDER_DATASETS = ('CustomDataset', 'mmpretrain.CustomDataset')


def _dataset_cfgs(dataset: Any) -> Iterable[Mapping]:
    """A dataset config and those it wraps (RepeatDataset, ConcatDataset, ...)."""
    if not isinstance(dataset, Mapping):
        return
    yield dataset
    yield from _dataset_cfgs(dataset.get('dataset'))
    for inner in dataset.get('datasets', ()) or ():
        yield from _dataset_cfgs(inner)


def check_data_roots(cfg: Config, loaders: Iterable[str]) -> None:
    """Fail early, with the fix, when a dataset's ``data_root`` does not exist."""
    for loader in loaders:
        loader_cfg = cfg.get(loader)
        if not isinstance(loader_cfg, Mapping):
            continue
        for dataset in _dataset_cfgs(loader_cfg.get('dataset')):
            root = dataset.get('data_root')
            if root and not osp.isdir(root):
                raise DataError(
                    f'{dataset.get("type")} data not found: {loader}.dataset.data_root is '
                    f'{root!r}, which does not exist (from {os.getcwd()}). Put the data there '
                    f'(mmpretrain layout: {root}/train/<class>/..., {root}/val/...), or point '
                    f'the config elsewhere: --cfg-options {loader}.dataset.data_root=/path/to/data'
                )


def folder_classes(dataset: Mapping) -> Optional[tuple]:
    """The classes a folder ``CustomDataset`` config will find, or None.

    None when the dataset is not a class-per-folder ``CustomDataset`` (it has
    an ``ann_file`` or explicit ``classes``) or its folder does not exist.

    Args:
        dataset (Mapping): A dataset config.

    Returns:
        tuple[str, tuple[str]] | None: The folder and its sorted class folders.
    """
    if dataset.get('type') not in _FOLDER_DATASETS or dataset.get('ann_file'):
        return None
    metainfo = dataset.get('metainfo') or {}
    if dataset.get('classes') or (isinstance(metainfo, Mapping) and metainfo.get('classes')):
        return None
    prefix = dataset.get('data_prefix') or ''
    if isinstance(prefix, Mapping):
        prefix = prefix.get('img_path') or ''
    folder = osp.join(dataset.get('data_root') or '', prefix)
    if not folder or not osp.isdir(folder):
        return None
    with os.scandir(folder) as entries:
        return folder, tuple(sorted(e.name for e in entries if e.is_dir()))


def check_folder_classes(cfg: Config, loaders: Iterable[str]) -> None:
    """Refuse folder datasets whose splits have different class folders.

    Args:
        cfg (Config): The config.
        loaders (Iterable[str]): Dataloader keys to compare (missing ones are skipped).
    """
    found = []
    for loader in loaders:
        loader_cfg = cfg.get(loader)
        if not isinstance(loader_cfg, Mapping):
            continue
        for dataset in _dataset_cfgs(loader_cfg.get('dataset')):
            classes = folder_classes(dataset)
            if classes is not None:
                found.append((loader, *classes))
    for loader, folder, classes in found[1:]:
        first_loader, first_folder, first = found[0]
        if classes != first:
            only_first = sorted(set(first) - set(classes))
            only_here = sorted(set(classes) - set(first))
            raise DataError(
                f'the class folders differ between {first_loader} ({first_folder}) and '
                f'{loader} ({folder}), so the same label would mean different classes: '
                f'only in the first: {", ".join(only_first) or "none"}; only in the second: '
                f'{", ".join(only_here) or "none"}'
                + ('' if only_first or only_here else '; the same names in another order')
                + '. Make the folders match, or list the classes (dataset classes=[...])'
            )
