"""Converting a weights file into an se_plugin checkpoint file."""

from __future__ import annotations

import os
from collections.abc import Mapping

import torch

from se_plugin.runtime.atomic import atomic_open
from se_plugin.version import __version__

from .archs import get_arch
from .errors import ConversionError
from .io import read_source
from .state_dict import convert_state_dict


def convert_checkpoint(
    src: str,
    dst: str,
    source: str,
    arch: str,
    backbone_only: bool = False,
) -> dict:
    """Convert the file ``src`` and save ``{'state_dict', 'meta'}`` to ``dst``.

    The output loads with ``load_from=dst`` into :meth:`Arch.model_config`'s
    model (``meta['model']``), or into a backbone with
    ``init_cfg=dict(type='Pretrained', checkpoint=dst, prefix='backbone.')``.

    Returns:
        The saved ``meta`` dict (``arch``, ``source``, ``num_classes``,
        ``model`` config, ...).
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
    meta = dict(
        converted_by=f'se_plugin {__version__} tools/convert.py',
        source=dict(framework=spec.source, arch=spec.name, peer=spec.peer, file=str(src)),
        arch=spec.name,
        num_classes=None if head is None else head['num_classes'],
        backbone_only=bool(backbone_only),
        model=model_cfg,
    )
    if isinstance(src_meta.get('dataset_meta'), Mapping):
        meta['dataset_meta'] = dict(src_meta['dataset_meta'])
    with atomic_open(dst) as f:  # unique temp name next to dst, removed on failure
        torch.save({'state_dict': converted, 'meta': meta}, f)
    return meta
