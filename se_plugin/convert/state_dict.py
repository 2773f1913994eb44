"""Renaming a source state dict to ours, checked key by key and shape by shape."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, Optional

import torch
from torch import Tensor

from .archs import get_arch
from .errors import ConversionError, _preview


def _shape(t: Any) -> str:
    return str(tuple(t.shape)) if hasattr(t, 'shape') else repr(t)


def check_state_dict(
    state_dict: Mapping,
    reference: Mapping,
    what: str = 'the converted weights',
    renamed_from: Optional[Mapping] = None,
) -> None:
    """Raise a ConversionError unless ``state_dict`` has exactly ``reference``'s keys and shapes.

    Args:
        state_dict: Converted weights.
        reference: Our model's ``state_dict()`` (or a mapping of key -> shape-bearing value).
        what: How the error names the checked weights.
        renamed_from: Our key -> source key, to name both in the error.
    """
    renamed_from = renamed_from or {}

    def name(key: str) -> str:
        src = renamed_from.get(key)
        return key if src is None or src == key else f'{key} (source {src})'

    missing = [k for k in reference if k not in state_dict]
    unexpected = [name(k) for k in state_dict if k not in reference]
    misshaped = [
        f'{name(k)}: {_shape(v)} vs ours {_shape(reference[k])}'
        for k, v in state_dict.items()
        if k in reference and tuple(v.shape) != tuple(reference[k].shape)
    ]
    problems = []
    if missing:
        problems.append(f'{len(missing)} missing key(s): {_preview(missing)}')
    if unexpected:
        problems.append(f'{len(unexpected)} unexpected key(s): {_preview(unexpected)}')
    if misshaped:
        problems.append(f'{len(misshaped)} mis-shaped key(s): {_preview(misshaped)}')
    if problems:
        raise ConversionError(f'{what} do not match the se_plugin model: ' + '; '.join(problems))


def _plain(tensor: Tensor) -> Tensor:
    tensor = tensor.detach()
    if tensor.device.type not in ('cpu', 'meta'):
        tensor = tensor.cpu()
    return tensor.contiguous()


def _source_hint(source: str, keys: list) -> str:
    backbone = sum(k.startswith('backbone.') for k in keys)
    if source == 'timm' and backbone > len(keys) // 2:
        return (
            ' (its keys start with "backbone.": is it an mmpretrain checkpoint?'
            ' try --from mmpretrain)'
        )
    if source == 'mmpretrain' and backbone == 0:
        return ' (no key starts with "backbone.": is it a timm state dict? try --from timm)'
    return ''


def convert_state_dict(
    state_dict: Mapping,
    source: str,
    arch: str,
    backbone_only: bool = False,
    reference: Optional[Mapping] = None,
    what: str = 'the source weights',
) -> tuple:
    """Rename a timm / mmpretrain state dict to ours and check it strictly.

    Args:
        state_dict: The source weights (``{key: tensor}``).
        source: ``'timm'`` or ``'mmpretrain'``.
        arch: A name of :func:`list_archs` for that source.
        backbone_only: Drop the classifier head (for fine-tuning with a new head).
        reference: Our model's state dict to check against; None builds the model.
        what: How errors name the input (e.g. its path).

    Returns:
        ``(converted_state_dict, model_config)``; the config's head has the
        source's number of classes (unless ``backbone_only``).

    Raises:
        ConversionError: unknown source/arch, or keys missing, unexpected or
            mis-shaped after renaming (all of them named).
    """
    spec = get_arch(source, arch)
    converted, renamed_from, unmatched = OrderedDict(), {}, []
    for key, value in state_dict.items():
        new = spec.rename(key)
        if new is None:
            unmatched.append(key)
            continue
        if backbone_only and new.startswith('head.'):
            continue
        if new in converted:
            raise ConversionError(f'{what}: {renamed_from[new]} and {key} both map to {new}')
        converted[new], renamed_from[new] = value, key
    if unmatched:
        hint = _source_hint(source, list(state_dict))
        raise ConversionError(
            f'{what} do not fit --from {source} --arch {arch}{hint}: {len(unmatched)} '
            f'unexpected key(s) no rule maps: {_preview(unmatched)}'
        )
    head = converted.get('head.fc.weight')
    num_classes = int(head.shape[0]) if head is not None and head.dim() == 2 else 1000
    model_cfg = spec.model_config(num_classes)
    if reference is None:
        from se_plugin.models.builder import build_model

        reference = build_model(model_cfg).state_dict()
    if backbone_only:
        reference = {k: v for k, v in reference.items() if not k.startswith('head.')}
        model_cfg['head'] = None
    # BatchNorm counters: absent from some old files; load_state_dict would fill them too.
    for key, value in reference.items():
        if key.endswith('.num_batches_tracked') and key not in converted:
            converted[key] = torch.zeros_like(value, device='cpu')
    check_state_dict(
        converted,
        reference,
        what=f'{what} (--from {source} --arch {arch})',
        renamed_from=renamed_from,
    )
    ordered = OrderedDict((k, _plain(converted[k])) for k in reference)
    return ordered, model_cfg
