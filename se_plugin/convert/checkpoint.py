"""Converting a weights file into an se_plugin checkpoint file."""

from __future__ import annotations

import os
from typing import Optional

import torch

from se_plugin.runtime.atomic import atomic_open

from .archs import get_arch
from .errors import ConversionError
from .io import read_source
from .meta import checkpoint_meta
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
    meta = checkpoint_meta(spec, model_cfg, tag, use_test_size, file=str(src), source_meta=src_meta)
    with atomic_open(dst) as f:  # unique temp name next to dst, removed on failure
        torch.save({'state_dict': converted, 'meta': meta}, f)
    return meta
