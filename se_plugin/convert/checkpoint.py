"""Converting a weights file into an se_plugin checkpoint file."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Optional

import torch

from se_plugin.runtime.atomic import atomic_open
from se_plugin.version import __version__

from .archs import get_arch
from .errors import ConversionError
from .io import read_source
from .meta import config_text, converted_config, source_preprocessing
from .state_dict import convert_state_dict


def convert_checkpoint(
    src: str,
    dst: str,
    source: str,
    arch: str,
    backbone_only: bool = False,
    tag: Optional[str] = None,
    use_test_size: bool = False,
) -> dict:
    """Convert the file ``src`` and save ``{'state_dict', 'meta'}`` to ``dst``.

    The output loads with ``load_from=dst`` into :meth:`Arch.model_config`'s
    model (``meta['model']``), or into a backbone with
    ``init_cfg=dict(type='Pretrained', checkpoint=dst, prefix='backbone.')``;
    with a head, ``meta['cfg']`` is the config that tests and predicts with it,
    with the source's preprocessing (:mod:`~se_plugin.convert.meta`).

    Args:
        src (str): The source weights file.
        dst (str): The output file.
        source (str): ``'timm'`` or ``'mmpretrain'``.
        arch (str): A convertible arch of ``source`` (:func:`list_archs`).
        backbone_only (bool): Leave the classifier head out. Default: False.
        tag (str, optional): The weights' tag, whose preprocessing the
            checkpoint keeps (timm: ``'ra2_in1k'``; mmpretrain: a model name);
            None: timm's default tag of ``arch`` / its first mmpretrain model.
            Default: None.
        use_test_size (bool): timm: keep the tag's test-time input size and
            crop (timm's results tables). Default: False.

    Returns:
        dict: The saved ``meta``: ``arch``, ``source`` (framework, arch, tag,
        weights, peer, file), ``num_classes``, ``backbone_only``, ``model``,
        ``preprocess`` (where it was read and timm's values), ``cfg`` (config
        text; not for ``backbone_only``) and ``dataset_meta`` when the classes
        are known.
    """
    spec = get_arch(source, arch)  # unknown source/arch before reading anything
    if os.path.abspath(os.path.expanduser(src)) == os.path.abspath(os.path.expanduser(dst)):
        raise ConversionError(f'the output must not overwrite the source: {dst}')
    out_dir = os.path.dirname(os.path.abspath(os.path.expanduser(dst)))
    if not os.path.isdir(out_dir):
        raise FileNotFoundError(f'output folder does not exist: {out_dir}')
    state_dict, src_meta = read_source(src)
    converted, model_cfg = convert_state_dict(
        state_dict, source, arch, backbone_only=backbone_only, what=f'the weights in {src}'
    )
    head = model_cfg.get('head')
    num_classes = None if head is None else head['num_classes']
    prep = source_preprocessing(spec, tag, use_test_size, num_classes or 1000)
    meta = dict(
        converted_by=f'se_plugin {__version__} tools/convert.py',
        source=dict(
            framework=spec.source,
            arch=spec.name,
            tag=tag,
            weights=prep['weights'],
            peer=spec.peer,
            file=str(src),
        ),
        arch=spec.name,
        num_classes=num_classes,
        backbone_only=bool(backbone_only),
        model=model_cfg,
        preprocess=dict(origin=prep['origin'], data_cfg=prep['data_cfg']),
    )
    if head is not None:
        meta['cfg'] = config_text(converted_config(model_cfg, prep))
    if isinstance(src_meta.get('dataset_meta'), Mapping):
        meta['dataset_meta'] = dict(src_meta['dataset_meta'])
    elif head is not None and prep['classes'] is not None:
        meta['dataset_meta'] = dict(classes=prep['classes'])
    with atomic_open(dst) as f:  # unique temp name next to dst, removed on failure
        torch.save({'state_dict': converted, 'meta': meta}, f)
    return meta
