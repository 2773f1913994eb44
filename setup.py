"""Installation script for se_plugin.

The mmcv dependency is chosen at install time: if a full ``mmcv`` (with
compiled ops, e.g. for mmdet/mmseg) is already installed it is kept, and only
otherwise is the pure-Python ``mmcv-lite`` required. Listing ``mmcv-lite``
unconditionally would make pip install it on top of a user's full ``mmcv``
(both provide the ``mmcv`` package) and break the compiled ops.
"""

import os
import shutil
import sys
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


MIM_FILES = ('configs', 'tools', 'model-index.yml')


def add_mim_extension():
    """Put the configs, tools and model-index.yml under ``se_plugin/.mim``, as mmpretrain
    does: what ``mim search / train / test se_plugin`` read from an installed package.

    Copied when a wheel or sdist is built, linked for an editable install.
    """
    if any(cmd in sys.argv for cmd in ('develop', 'editable_wheel')):
        mode = 'symlink'
    elif any(cmd in sys.argv for cmd in ('sdist', 'bdist_wheel', 'build', 'install')):
        mode = 'copy'
    else:
        return
    here = os.path.dirname(os.path.abspath(__file__))
    mim_dir = os.path.join(here, 'se_plugin', '.mim')
    os.makedirs(mim_dir, exist_ok=True)
    for name in MIM_FILES:
        src, dst = os.path.join(here, name), os.path.join(mim_dir, name)
        if os.path.islink(dst) or os.path.isfile(dst):
            os.remove(dst)
        elif os.path.isdir(dst):
            shutil.rmtree(dst)
        if mode == 'symlink':
            os.symlink(os.path.relpath(src, mim_dir), dst)
        elif os.path.isdir(src):
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))
        else:
            shutil.copyfile(src, dst)


def mim_package_data():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'se_plugin')
    found = []
    for folder, _, files in os.walk(os.path.join(root, '.mim'), followlinks=True):
        found += [os.path.relpath(os.path.join(folder, f), root) for f in files]
    return found


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

add_mim_extension()
setup(
    name='se_plugin',
    version=read_version(),
    description='Squeeze-and-Excitation and Selective Kernel attention for OpenMMLab',
    packages=find_packages(include=['se_plugin', 'se_plugin.*']),
    python_requires='>=3.9',
    package_data={'se_plugin': mim_package_data()},
    install_requires=install_requires,
    extras_require={
        'tests': ['pytest', 'pytest-timeout', 'hypothesis', 'ruff', 'timm', 'matplotlib'],
        'deploy': ['onnx', 'onnxruntime', 'onnxscript'],
        'vis': ['grad-cam', 'tensorboard'],
        # mim imports pkg_resources, which setuptools >= 82 no longer ships
        'mim': ['openmim', 'setuptools<82'],
    },
    license='Apache-2.0',
)
