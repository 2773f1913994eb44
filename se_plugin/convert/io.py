"""Reading a timm / mmpretrain weights file safely (no code from it is run)."""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from torch import Tensor

from se_plugin.runtime.checkpoint import load_checkpoint_file

from .errors import ConversionError, _preview


def _is_state_dict(obj: Any) -> bool:
    return isinstance(obj, Mapping) and all(isinstance(k, str) for k in obj)


def read_source(path: str) -> tuple:
    """``(state_dict, meta)`` of a timm or mmpretrain file.

    Accepted: a plain state dict (timm ``.pth``/``.bin``), ``.safetensors``
    (needs the ``safetensors`` package), or a dict holding it under
    ``state_dict`` (mmpretrain/mmengine, timm's train script) or ``model``.
    A DDP ``module.`` prefix is removed. ``meta`` is the file's ``meta`` dict
    (or ``{}``).
    """
    path = os.path.expanduser(str(path))
    if not os.path.isfile(path):
        raise FileNotFoundError(f'source checkpoint not found: {path}')
    if path.endswith('.safetensors'):
        obj = _read_safetensors(path)
    else:
        obj = load_checkpoint_file(path, map_location='cpu')
    if not isinstance(obj, Mapping):
        raise ConversionError(f'{path}: expected a dict of weights, got {type(obj).__name__}')
    meta = obj.get('meta') if isinstance(obj.get('meta'), Mapping) else {}
    for field in ('state_dict', 'model'):
        if isinstance(obj.get(field), Mapping):
            obj = obj[field]
            break
    if not _is_state_dict(obj) or not obj:
        raise ConversionError(f'{path}: no state dict found (keys: {_preview(list(obj))})')
    not_tensors = [k for k, v in obj.items() if not isinstance(v, Tensor)]
    if not_tensors:
        raise ConversionError(
            f'{path}: not a state dict: these entries are not tensors: {_preview(not_tensors)}'
        )
    if all(k.startswith('module.') for k in obj):
        obj = {k[len('module.') :]: v for k, v in obj.items()}
    return OrderedDict(obj), dict(meta)


def _read_safetensors(path: str) -> dict:
    try:
        from safetensors import SafetensorError
        from safetensors.torch import load_file
    except ImportError:
        raise ConversionError(
            f'{path}: reading .safetensors needs the safetensors package (pip install '
            'safetensors), or give the .pth/.bin file instead'
        ) from None
    try:
        return load_file(path, device='cpu')
    except (SafetensorError, OSError) as err:
        raise ConversionError(f'cannot read {path}: {err}') from None
