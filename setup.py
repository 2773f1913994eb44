"""Installation script for se_plugin.

The mmcv dependency is chosen at install time: if a full ``mmcv`` (with
compiled ops, e.g. for mmdet/mmseg) is already installed it is kept, and only
otherwise is the pure-Python ``mmcv-lite`` required. Listing ``mmcv-lite``
unconditionally would make pip install it on top of a user's full ``mmcv``
(both provide the ``mmcv`` package) and break the compiled ops.
"""

import os
from importlib import metadata

from setuptools import find_packages, setup

MMCV_SPEC = '>=2.0.0,<2.2.0'


def mmcv_requirement():
    for dist in ('mmcv', 'mmcv-full'):
        try:
            metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
        return f'mmcv{MMCV_SPEC}' if dist == 'mmcv' else None
    return f'mmcv-lite{MMCV_SPEC}'


def read_version():
    scope = {}
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, 'se_plugin', 'version.py')) as f:
        exec(f.read(), scope)
    return scope['__version__']


install_requires = [
    'torch>=2.1',
    'torchvision',
    'mmengine>=0.10.0,<0.11',
    'mmpretrain>=1.2.0,<1.3',
    'mlxtend>=0.23',
]
mmcv_req = mmcv_requirement()
if mmcv_req:
    install_requires.append(mmcv_req)

setup(
    name='se_plugin',
    version=read_version(),
    description='Squeeze-and-Excitation and Selective Kernel attention for OpenMMLab',
    packages=find_packages(include=['se_plugin', 'se_plugin.*']),
    python_requires='>=3.9',
    install_requires=install_requires,
    extras_require={
        'tests': ['pytest', 'pytest-timeout', 'hypothesis', 'ruff', 'timm', 'matplotlib'],
    },
    license='Apache-2.0',
)
