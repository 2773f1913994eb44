"""The source's evaluation preprocessing, as an mmpretrain test pipeline.

A converted checkpoint predicts what its source predicts only from the source's
input: the same resize, crop, interpolation and normalisation. This module
turns the source's own description of it into mmpretrain transforms and a
``data_preprocessor``:

* timm: the ``pretrained_cfg`` of the weight tag, resolved as
  ``timm.data.resolve_data_config`` resolves it (input size, interpolation,
  ``crop_pct``, ``crop_mode``, mean/std), mapped by :func:`timm_eval_pipeline`
  to the transforms that give the same pixels as
  ``timm.data.transforms_imagenet_eval``;
* mmpretrain: the test pipeline and ``data_preprocessor`` of the model's own
  config in mmpretrain's model index (:func:`mmpretrain_eval_pipeline`).

timm's evaluation transform (``transforms_imagenet_eval``), with
``scale = floor(size / crop_pct)``:

* ``crop_mode='center'``: resize the shorter side to ``scale`` (PIL, long side
  ``int(scale * long / short)``), then center-crop ``size``; here
  ``ResizeEdge(edge='short')`` and ``CenterCrop``, the same rule;
* ``crop_mode='squash'``: resize to ``scale x scale`` ignoring the aspect
  ratio, then center-crop; here ``Resize(keep_ratio=False)`` and ``CenterCrop``;
* ``crop_mode='border'`` and ``crop_pct > 1`` pad the image (timm pads centred,
  mmcv's padding is bottom-right): refused with a :class:`ConversionError`.

Every resize uses the ``pillow`` backend with the tag's interpolation (what
torchvision calls on a PIL image), and images are decoded by Pillow without
EXIF rotation (``color_ignore_orientation``), as timm's
``Image.open(path).convert('RGB')``: the uint8 crops are identical to timm's
(tests/convert/test_preprocess.py), and the normalised tensors differ by float
rounding only (timm divides by 255 first).
"""

from __future__ import annotations

import math
import os.path as osp
from collections.abc import Mapping, Sequence
from typing import Any, Optional

from .errors import ConversionError

__all__ = [
    'PIL_INTERPOLATIONS',
    'TIMM_CROP_MODES',
    'mmpretrain_eval_pipeline',
    'timm_data_config',
    'timm_eval_pipeline',
]

#: interpolations both torchvision (on PIL images) and mmcv's pillow backend know
PIL_INTERPOLATIONS = ('nearest', 'bilinear', 'bicubic', 'box', 'hamming', 'lanczos')
TIMM_CROP_MODES = ('center', 'squash')
# Pillow decoding, RGB kept as mmcv's BGR array (the data_preprocessor flips it), and
# no EXIF rotation: what timm's Image.open(path).convert('RGB') gives.
_TIMM_LOAD = dict(
    type='LoadImageFromFile', imdecode_backend='pillow', color_type='color_ignore_orientation'
)


def _size(data_cfg: Mapping) -> tuple:
    size = data_cfg.get('input_size')
    if not (isinstance(size, Sequence) and len(size) == 3 and all(int(s) > 0 for s in size)):
        raise ConversionError(f'input_size must be (C, H, W), got {size!r}')
    return tuple(int(s) for s in size)


def _crop_pct(data_cfg: Mapping) -> float:
    crop_pct = data_cfg.get('crop_pct')
    if not isinstance(crop_pct, (int, float)) or not 0 < crop_pct <= 1:
        raise ConversionError(
            f'crop_pct must be in (0, 1], got {crop_pct!r} (crop_pct > 1 pads the image '
            'centred, which mmpretrain transforms do not reproduce)'
        )
    return float(crop_pct)


def _choice(data_cfg: Mapping, key: str, allowed: tuple, why: str = '') -> str:
    value = data_cfg.get(key)
    if value not in allowed:
        raise ConversionError(f'{key} must be one of {", ".join(allowed)}; got {value!r}{why}')
    return value


def _per_channel(data_cfg: Mapping, key: str, channels: int) -> list:
    values = data_cfg.get(key)
    if not (isinstance(values, Sequence) and len(values) == channels):
        raise ConversionError(f'{key} must have {channels} values, got {values!r}')
    return [round(255 * float(v), 6) for v in values]


def timm_eval_pipeline(data_cfg: Mapping, num_classes: int) -> tuple:
    """The mmpretrain test pipeline and data preprocessor equal to timm's eval transform.

    Args:
        data_cfg (Mapping): timm's resolved data config (``resolve_data_config``):
            ``input_size`` (C, H, W), ``interpolation``, ``crop_pct``, ``crop_mode``
            and ``mean`` / ``std`` in [0, 1] per channel.
        num_classes (int): The classifier's classes, for the data preprocessor.

    Returns:
        tuple[list, dict]: ``(test_pipeline, data_preprocessor)``.

    Raises:
        ConversionError: A value the mmpretrain transforms cannot reproduce
            (``crop_mode='border'``, ``crop_pct > 1``, a non-square ``center``
            crop, an interpolation Pillow does not have).

    Example:
        >>> cfg = dict(input_size=(3, 224, 224), interpolation='bicubic', crop_pct=0.875,
        ...            crop_mode='center', mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
        >>> pipeline, preprocessor = timm_eval_pipeline(cfg, num_classes=1000)
        >>> [t['type'] for t in pipeline], pipeline[1]['scale'], pipeline[2]['crop_size']
        (['LoadImageFromFile', 'ResizeEdge', 'CenterCrop', 'PackInputs'], 256, 224)
        >>> preprocessor['mean'], preprocessor['to_rgb']
        ([127.5, 127.5, 127.5], True)
    """
    channels, height, width = _size(data_cfg)
    crop_pct = _crop_pct(data_cfg)
    interpolation = _choice(data_cfg, 'interpolation', PIL_INTERPOLATIONS)
    crop_mode = _choice(
        data_cfg,
        'crop_mode',
        TIMM_CROP_MODES,
        " ('border' pads the image centred, which mmpretrain transforms do not reproduce)",
    )
    resize = dict(backend='pillow', interpolation=interpolation)
    if crop_mode == 'squash':
        scale = (math.floor(width / crop_pct), math.floor(height / crop_pct))
        resize.update(type='Resize', scale=scale, keep_ratio=False)
    elif height != width:
        raise ConversionError(
            f"a non-square crop ({height}x{width}) with crop_mode='center' resizes by the "
            "ratio of both sides, which mmpretrain's ResizeEdge does not reproduce"
        )
    else:
        resize.update(type='ResizeEdge', scale=math.floor(height / crop_pct), edge='short')
    crop = dict(type='CenterCrop', crop_size=height if height == width else (width, height))
    pipeline = [dict(_TIMM_LOAD), resize, crop, dict(type='PackInputs')]
    preprocessor = dict(
        type='ClsDataPreprocessor',
        num_classes=int(num_classes),
        mean=_per_channel(data_cfg, 'mean', channels),
        std=_per_channel(data_cfg, 'std', channels),
        to_rgb=channels == 3,
    )
    return pipeline, preprocessor


def _timm():
    try:
        import timm
    except ImportError:
        raise ConversionError(
            "--from timm reads the weight tag's preprocessing from timm's pretrained configs: "
            'install timm (pip install timm)'
        ) from None
    return timm


def timm_data_config(arch: str, tag: Optional[str] = None, use_test_size: bool = False) -> tuple:
    """timm's resolved data config of ``arch.tag`` (no download: timm's own tables).

    Args:
        arch (str): timm's model name, e.g. ``'seresnet50'``.
        tag (str, optional): The weight tag, e.g. ``'ra2_in1k'``; None takes timm's
            default tag of ``arch`` (what ``timm.create_model(arch, pretrained=True)``
            loads). Default: None.
        use_test_size (bool): Use the tag's ``test_input_size`` / ``test_crop_pct``
            (timm's results tables) instead of its train-time ones. Default: False.

    Returns:
        tuple[dict, str, Optional[str]]: ``(data_cfg, 'arch.tag', imagenet_subset)``;
        the subset (``'imagenet-1k'``, ...) names the classes, None when unknown.
    """
    timm = _timm()
    from timm.data import infer_imagenet_subset, resolve_data_config
    from timm.models import get_arch_pretrained_cfgs

    cfgs = get_arch_pretrained_cfgs(arch)
    if not cfgs:
        raise ConversionError(f'timm has no model named {arch!r}')
    if tag is None:
        cfg = timm.models.get_pretrained_cfg(arch)
    else:
        cfg = cfgs.get(f'{arch}.{tag}')
        if cfg is None:
            from .tags import timm_tags

            known = ', '.join(timm_tags(arch)) or 'none (timm publishes no weights for it)'
            raise ConversionError(f'unknown --tag {tag!r} for timm {arch}; public tags: {known}')
    data_cfg = resolve_data_config(pretrained_cfg=cfg.to_dict(), use_test_size=use_test_size)
    return dict(data_cfg), f'{arch}.{cfg.tag}', infer_imagenet_subset(cfg)


def _mmpretrain_config(path: str):
    from mmengine.config import Config

    try:
        return Config.fromfile(path)
    except Exception as err:  # an installed config that does not load: name it
        raise ConversionError(f'cannot read mmpretrain config {path}: {err}') from None


def mmpretrain_eval_pipeline(model_name: Optional[str]) -> tuple:
    """The test pipeline and data preprocessor of an mmpretrain model's own config.

    Args:
        model_name (str, optional): A model of mmpretrain's model index (e.g.
            ``'seresnet50_8xb32_in1k'``, :func:`~se_plugin.convert.tags.mmpretrain_models`).
            None takes mmpretrain's ImageNet evaluation pipeline
            (``_base_/datasets/imagenet_bs32_pil_resize.py``, the dataset base of
            its SE-ResNet / SE-ResNeXt configs). Default: None.

    Returns:
        tuple[list, dict, str, str]: ``(test_pipeline, data_preprocessor, config path,
        test dataset type)``.
    """
    from .tags import mmpretrain_mim, mmpretrain_models

    root = mmpretrain_mim()
    if model_name is None:
        path = osp.join(root, 'configs', '_base_', 'datasets', 'imagenet_bs32_pil_resize.py')
    else:
        path = mmpretrain_models().get(model_name, {}).get('config')
        if path is None:
            raise ConversionError(f'mmpretrain has no model {model_name!r} in its model index')
    cfg = _mmpretrain_config(path)
    pipeline = _config_value(cfg, 'test_dataloader.dataset.pipeline', path)
    preprocessor = dict(_config_value(cfg, 'data_preprocessor', path))
    preprocessor.setdefault('type', 'ClsDataPreprocessor')
    dataset = _config_value(cfg, 'test_dataloader.dataset.type', path)
    return [dict(t) for t in pipeline], preprocessor, path, dataset


def _config_value(cfg: Any, dotted: str, path: str) -> Any:
    node = cfg.to_dict()
    for part in dotted.split('.'):
        node = node.get(part) if isinstance(node, Mapping) else None
        if node is None:
            raise ConversionError(f'mmpretrain config {path} has no {dotted}')
    return node
