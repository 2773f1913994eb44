"""Data: the MNIST-5k quick-start dataset and image transforms.

Importing this package registers ``MNIST5k`` (dataset) and ``LoadImageFromFile``
(a transform whose errors name the bad file) in the ``se_plugin`` registries.
"""

from .mnist5k import MNIST5k, find_mnist5k, load_mnist5k
from .transforms import ImageLoadError, LoadImageFromFile

__all__ = ['ImageLoadError', 'LoadImageFromFile', 'MNIST5k', 'find_mnist5k', 'load_mnist5k']
