"""Build step that pyproject.toml cannot express: mim's copy of the configs and tools.

Everything else (name, version, requirements, extras) is static metadata in
pyproject.toml. mim (``mim search / train / test se_plugin``) reads an installed
package's ``se_plugin/.mim/{configs,tools,model-index.yml}``, as for mmpretrain:
they are copied there when a wheel or sdist is built (``pip install .``) and linked
for an editable install (``pip install -e .``).
"""

import os
import shutil
import sys

from setuptools import setup

HERE = os.path.dirname(os.path.abspath(__file__))
MIM_DIR = os.path.join(HERE, 'se_plugin', '.mim')
MIM_FILES = ('configs', 'tools', 'model-index.yml')


def mim_mode():
    """'symlink' for an editable install, 'copy' for a build, None otherwise (metadata)."""
    if any(cmd in sys.argv for cmd in ('develop', 'editable_wheel')):
        return 'symlink'
    if any(cmd in sys.argv for cmd in ('sdist', 'bdist_wheel', 'build', 'install')):
        return 'copy'
    return None


def add_mim_extension(mode):
    """Put the configs, tools and model-index.yml under ``se_plugin/.mim``.

    An sdist carries ``.mim`` but not the top-level folders: what is there is kept.
    """
    os.makedirs(MIM_DIR, exist_ok=True)
    for name in MIM_FILES:
        src, dst = os.path.join(HERE, name), os.path.join(MIM_DIR, name)
        if not os.path.exists(src):
            continue
        if os.path.islink(dst) or os.path.isfile(dst):
            os.remove(dst)
        elif os.path.isdir(dst):
            shutil.rmtree(dst)
        if mode == 'symlink':
            os.symlink(os.path.relpath(src, MIM_DIR), dst)
        elif os.path.isdir(src):
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))
        else:
            shutil.copyfile(src, dst)


def mim_package_data():
    """The files under ``se_plugin/.mim``, relative to the package."""
    root = os.path.dirname(MIM_DIR)
    found = []
    for folder, _, files in os.walk(MIM_DIR, followlinks=True):
        found += [os.path.relpath(os.path.join(folder, f), root) for f in files]
    return found


_mode = mim_mode()
if _mode:
    add_mim_extension(_mode)
setup(package_data={'se_plugin': mim_package_data()})
