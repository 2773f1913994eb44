from .mnist5k import MNIST5k, find_mnist5k, load_mnist5k

__all__ = ['MNIST5k', 'find_mnist5k', 'load_mnist5k']
