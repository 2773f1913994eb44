"""Which public weights each convertible arch fits: its weight tags.

Read from the sources' own tables, never hard-coded, so an arch added to
:mod:`~se_plugin.convert.archs` gets its tags with no other change (nothing is
downloaded):

* timm: the arch name is timm's model name, and its tags are those of timm's
  pretrained configs that have weights (``timm.list_pretrained('<arch>.*')``):
  ``seresnet50`` -> ``a1_in1k``, ``a2_in1k``, ``a3_in1k``, ``ra2_in1k``;
* mmpretrain: the models of mmpretrain's model index (``.mim/model-index.yml``
  and the metafiles it imports) whose name is the arch name followed by ``_``
  (mmpretrain writes ``-`` for our ``_``) and that list weights:
  ``seresnet50`` -> ``seresnet50_8xb32_in1k``.
"""

from __future__ import annotations

import functools
import importlib.util
import os.path as osp
import re

from .errors import ConversionError

__all__ = ['mmpretrain_models', 'mmpretrain_tags', 'timm_tags', 'weight_tags', 'weights_table']


def timm_tags(arch: str) -> list:
    """The tags of timm's public weights for the timm model ``arch``.

    Example:
        >>> timm_tags('seresnet50')
        ['a1_in1k', 'a2_in1k', 'a3_in1k', 'ra2_in1k']
        >>> timm_tags('seresnet18')
        []
    """
    try:
        import timm
    except ImportError:
        raise ConversionError(
            "timm's weight tags are read from timm's pretrained configs: install timm "
            '(pip install timm)'
        ) from None
    return [name.split('.', 1)[1] for name in timm.list_pretrained(f'{arch}.*')]


def _normalised(name: str) -> str:
    return name.replace('-', '_')


@functools.lru_cache(maxsize=1)
def mmpretrain_models() -> dict:
    """mmpretrain's model index: ``{name: {'config': path, 'weights': url or None}}``.

    Only the metafiles that name a model of an mmpretrain arch of
    :mod:`~se_plugin.convert.archs` are parsed (all of them take ~1 s).
    """
    import yaml

    from .archs import ARCHS

    spec = importlib.util.find_spec('mmpretrain')  # without importing it (seconds)
    if spec is None or not spec.submodule_search_locations:
        raise ConversionError("mmpretrain's model index needs mmpretrain installed")
    root = osp.join(list(spec.submodule_search_locations)[0], '.mim')
    with open(osp.join(root, 'model-index.yml')) as f:
        metafiles = yaml.safe_load(f).get('Import') or []
    prefixes = '|'.join(re.escape(name).replace('_', '[-_]') for name in ARCHS['mmpretrain'])
    wanted = re.compile(rf'^\s*- Name:\s*({prefixes})[-_]', re.M)
    models = {}
    for metafile in metafiles:
        with open(osp.join(root, metafile)) as f:
            text = f.read()
        if prefixes and wanted.search(text):
            for model in yaml.safe_load(text).get('Models') or []:
                config = model.get('Config')
                models[model['Name']] = dict(
                    config=osp.join(root, config) if config else None, weights=model.get('Weights')
                )
    return models


def mmpretrain_tags(arch: str) -> list:
    """mmpretrain's model names of ``arch`` (``<arch>_...``) that have weights.

    Example:
        >>> mmpretrain_tags('seresnet50')
        ['seresnet50_8xb32_in1k']
    """
    return [
        name
        for name, model in mmpretrain_models().items()
        if model['weights'] and _normalised(name).startswith(f'{arch}_')
    ]


def weight_tags(source: str, arch: str) -> list:
    """The public weight tags ``arch`` of ``source`` fits (see the module docstring)."""
    return timm_tags(arch) if source == 'timm' else mmpretrain_tags(arch)


def weights_table() -> list:
    """``(source, arch, peer, tags)`` for every convertible arch (``convert.py --list``)."""
    from .archs import ARCHS

    return [
        (source, name, arch.peer, weight_tags(source, name))
        for source, archs in ARCHS.items()
        for name, arch in archs.items()
    ]
