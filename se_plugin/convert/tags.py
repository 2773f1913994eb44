"""Which public weights each convertible arch fits: its weight tags.

Read from the sources' own tables, never hard-coded, so an arch added to
:mod:`~se_plugin.convert.archs` gets its tags with no other change:

* timm: the arch name is timm's model name, and its tags are those of timm's
  pretrained configs with weights (``timm.list_pretrained('<arch>.*')``):
  ``seresnet50`` -> ``a1_in1k``, ``a2_in1k``, ``a3_in1k``, ``ra2_in1k``;
* mmpretrain: the tags are the models of mmpretrain's model index (its
  ``configs/*/metafile.yml``) whose name is the arch name followed by ``_``
  (``-`` read as ``_``) and that list weights: ``seresnet50`` ->
  ``seresnet50_8xb32_in1k``.

:func:`split_weights_name` reads the names users know: timm's
``seresnet50.ra2_in1k`` and mmpretrain's ``seresnet50_8xb32_in1k``.
"""

from __future__ import annotations

import functools
import glob
import importlib.util
import os.path as osp
import re
from typing import Optional

from .errors import ConversionError

__all__ = [
    'mmpretrain_mim',
    'mmpretrain_models',
    'mmpretrain_tags',
    'split_weights_name',
    'timm_tags',
    'weight_tags',
    'weights_table',
]


def timm_tags(arch: str) -> list:
    """The tags of timm's public weights for the timm model ``arch``.

    Example:
        >>> timm_tags('seresnet50')
        ['a1_in1k', 'a2_in1k', 'a3_in1k', 'ra2_in1k']
        >>> timm_tags('seresnet18')
        []
    """
    from .preprocess import _timm

    return [name.split('.', 1)[1] for name in _timm().list_pretrained(f'{arch}.*')]


def mmpretrain_mim() -> str:
    """The installed mmpretrain's ``.mim`` folder (its configs and model index)."""
    spec = importlib.util.find_spec('mmpretrain')  # without importing it (seconds)
    if spec is None or not spec.submodule_search_locations:
        raise ConversionError('--from mmpretrain needs mmpretrain installed')
    return osp.join(list(spec.submodule_search_locations)[0], '.mim')


def _normalised(name: str) -> str:
    return name.replace('-', '_')


@functools.lru_cache(maxsize=1)
def mmpretrain_models() -> dict:
    """mmpretrain's model index: ``{name: {'config': path, 'weights': url or None}}``.

    Only the metafiles that name a model of an SE-family prefix known to
    :mod:`~se_plugin.convert.archs` are parsed (all of them would take ~1 s).
    """
    import yaml

    from .archs import ARCHS

    root = mmpretrain_mim()
    # mmpretrain writes seresnext50-32x4d where the arch is seresnext50_32x4d
    prefixes = '|'.join(re.escape(name).replace('_', '[-_]') for name in ARCHS['mmpretrain'])
    wanted = re.compile(rf'^\s*- Name:\s*({prefixes})[-_]', re.M)
    models = {}
    for path in sorted(glob.glob(osp.join(root, 'configs', '*', 'metafile.yml'))):
        with open(path) as f:
            text = f.read()
        if not (prefixes and wanted.search(text)):
            continue
        for model in yaml.safe_load(text).get('Models') or []:
            config = model.get('Config')
            models[model['Name']] = dict(
                config=osp.join(root, config) if config else None, weights=model.get('Weights')
            )
    return models


def mmpretrain_tags(arch: str, with_weights: bool = True) -> list:
    """mmpretrain model names of ``arch`` (``<arch>_...``), those with weights by default.

    Example:
        >>> mmpretrain_tags('seresnet50')
        ['seresnet50_8xb32_in1k']
    """
    return [
        name
        for name, model in mmpretrain_models().items()
        if _normalised(name).startswith(f'{arch}_') and (model['weights'] or not with_weights)
    ]


def weight_tags(source: str, arch: str) -> list:
    """The public weight tags ``arch`` of ``source`` fits (see the module docstring)."""
    return timm_tags(arch) if source == 'timm' else mmpretrain_tags(arch)


def split_weights_name(source: str, name: str, tag: Optional[str] = None) -> tuple:
    """``(arch, tag)`` from an ``--arch`` value and an optional ``--tag``.

    ``--arch`` may name the weights whole: timm's ``seresnet50.ra2_in1k`` or
    mmpretrain's model ``seresnet50_8xb32_in1k``; a ``--tag`` that contradicts
    it is an error.

    Example:
        >>> split_weights_name('timm', 'seresnet50.ra2_in1k')
        ('seresnet50', 'ra2_in1k')
        >>> split_weights_name('timm', 'seresnet50', 'a1_in1k')
        ('seresnet50', 'a1_in1k')
        >>> split_weights_name('mmpretrain', 'seresnet50_8xb32_in1k')
        ('seresnet50', 'seresnet50_8xb32_in1k')
    """
    from .archs import ARCHS, get_arch

    arch, named = name, None
    if source == 'timm' and '.' in name:
        arch, named = name.split('.', 1)
    elif source == 'mmpretrain' and name not in ARCHS['mmpretrain']:
        fits = [a for a in ARCHS['mmpretrain'] if _normalised(name).startswith(f'{a}_')]
        if fits:
            arch, named = max(fits, key=len), name
    get_arch(source, arch)  # unknown arch: the error lists the convertible ones
    if named is not None and tag is not None and tag != named:
        raise ConversionError(f'--tag {tag!r} contradicts --arch {name!r} (tag {named!r})')
    return arch, tag if tag is not None else named


def weights_table() -> list:
    """``(source, arch, peer, tags)`` for every convertible arch (``--list``)."""
    from .archs import ARCHS

    return [
        (source, name, arch.peer, weight_tags(source, name))
        for source, archs in ARCHS.items()
        for name, arch in archs.items()
    ]
