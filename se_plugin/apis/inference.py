"""Predicting classes of image files with a config and checkpoint.

:func:`init_model` builds the model of a config (or of the config a
checkpoint carries, :func:`~se_plugin.apis.config.checkpoint_config`) and
loads the checkpoint strictly; :func:`inference_model` runs the config's own
test pipeline on image files or arrays and returns, per image, the keys of
mmpretrain's ``ImageClassificationInferencer`` (``pred_label``,
``pred_score``, ``pred_scores``, ``pred_class``) plus ``image`` and ``topk``.

Why not mmpretrain's inferencer: it replaces the config's loading step with
its own colour loader, so a 1-channel model (the quick-start digits) fails on
an image path, and it finds configs by mmpretrain model names. Here the
pipeline is the config's test pipeline, whose loading step reads as many
channels as the model's data preprocessor normalises (grayscale for one), and
is added when the config's data come from memory (``MNIST5k``).
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, Optional, Union

import numpy as np
import torch
from mmengine.config import Config
from torch import nn

from se_plugin.checks import check_device, check_int
from se_plugin.runtime.errors import ConfigError

from .config import checkpoint_config

__all__ = ['init_model', 'inference_model', 'inference_pipeline']

_LOADER = 'LoadImageFromFile'
_COLOR_TYPES = {1: 'grayscale', 3: 'color'}


def _load_config(config: Union[str, Config]) -> Config:
    if isinstance(config, Config):
        return copy.deepcopy(config)
    if not isinstance(config, str):
        raise TypeError(f'config must be a path or an mmengine Config, got {type(config).__name__}')
    if not config.endswith('.py'):
        return checkpoint_config(config)
    from se_plugin.cli.config import load_config

    return load_config(config)


def init_model(
    config: Union[str, Config], checkpoint: Optional[str] = None, device: str = 'cpu'
) -> nn.Module:
    """Build a config's model and load a checkpoint into it, for prediction.

    Args:
        config (str | Config): A config file (``.py``), a loaded ``Config``, or a
            checkpoint that carries its config in ``meta['cfg']`` (converted
            with ``tools/convert.py``, or saved by a training run); in that case
            ``checkpoint`` defaults to it.
        checkpoint (str, optional): The weights; they must fit the model exactly.
            None with a config file: random weights. Default: None.
        device (str): ``'cpu'``, ``'cuda'`` or ``'cuda:N'``. Default: 'cpu'.

    Returns:
        nn.Module: The model in eval mode on ``device``, with ``cfg`` (the
        config) and ``dataset_meta`` (the checkpoint's, e.g. ``classes``; ``{}``
        if none) set.

    Example:
        >>> model = init_model('configs/quickstart/se_resnet18_mnist5k.py')
        >>> model.dataset_meta, type(model).__name__
        ({}, 'ImageClassifier')
    """
    target = check_device('device', device)
    if checkpoint is None and isinstance(config, str) and not config.endswith('.py'):
        checkpoint = config
    cfg = _load_config(config)
    if not isinstance(cfg.get('model'), Mapping):
        raise ConfigError(f'{cfg.filename or "the config"} has no model')
    from se_plugin.models.builder import build_config_model

    model = build_config_model(cfg)
    dataset_meta: dict = {}
    if checkpoint is not None:
        from se_plugin.runtime.weights import load_checkpoint_checked

        loaded = load_checkpoint_checked(model, checkpoint, mode='strict')
        meta = loaded.get('meta') if isinstance(loaded, Mapping) else None
        if isinstance(meta, Mapping) and isinstance(meta.get('dataset_meta'), Mapping):
            dataset_meta = dict(meta['dataset_meta'])
    model.cfg, model.dataset_meta = cfg, dataset_meta
    model.to(target)
    model.eval()
    return model


def _is_loader(transform: Mapping) -> bool:
    return str(transform.get('type', '')).split('.')[-1] == _LOADER


def inference_pipeline(cfg: Config) -> list:
    """The config's test pipeline, reading image files with the model's channels.

    The pipeline is ``test_dataloader.dataset.pipeline`` (what ``tools/test.py``
    runs), else ``test_pipeline``. Its ``LoadImageFromFile`` reads grayscale
    for a 1-channel model; a pipeline without one (data from memory) gets one.

    Args:
        cfg (Config): A config with a model and a test pipeline.

    Returns:
        list[dict]: Transform configs; the first loads ``img_path``.
    """
    loader = cfg.get('test_dataloader') or {}
    pipeline = (loader.get('dataset') or {}).get('pipeline') or cfg.get('test_pipeline')
    if not isinstance(pipeline, Sequence) or not pipeline:
        raise ConfigError(
            f'{cfg.filename or "the config"} has no test pipeline '
            '(test_dataloader.dataset.pipeline or test_pipeline)'
        )
    from se_plugin.analysis.complexity import input_channels

    pipeline = [dict(t) for t in copy.deepcopy(list(pipeline))]
    channels = input_channels(cfg)
    if channels == 1 and _is_loader(pipeline[0]):
        pipeline[0]['color_type'] = 'grayscale'
    elif not _is_loader(pipeline[0]):
        if channels not in _COLOR_TYPES:
            raise ConfigError(f'cannot load image files for a {channels}-channel model')
        pipeline.insert(0, dict(type=_LOADER, color_type=_COLOR_TYPES[channels]))
    return pipeline


def _classes(model: nn.Module, num_classes: int) -> Optional[list]:
    classes = (getattr(model, 'dataset_meta', None) or {}).get('classes')
    if classes is None:
        return None
    if len(classes) != num_classes:
        warnings.warn(
            f'the checkpoint names {len(classes)} classes but the model has {num_classes}; '
            'class names are left out',
            stacklevel=3,
        )
        return None
    return [str(c) for c in classes]


def _batches(samples: list, batch_size: int):
    """Consecutive runs of at most ``batch_size`` samples of one input shape."""
    batch: list = []
    for sample in samples:
        if batch and (
            len(batch) == batch_size or batch[0]['inputs'].shape != sample['inputs'].shape
        ):
            yield batch
            batch = []
        batch.append(sample)
    if batch:
        yield batch


def _result(image: Any, scores: torch.Tensor, topk: int, classes: Optional[list]) -> dict:
    scores = scores.float().cpu()
    top_scores, top_labels = scores.topk(min(topk, scores.numel()))
    label = int(top_labels[0])
    return dict(
        image=image,
        pred_label=label,
        pred_score=float(top_scores[0]),
        pred_scores=scores.numpy(),
        pred_class=classes[label] if classes else None,
        topk=[
            dict(label=int(i), score=float(s), **{'class': classes[int(i)] if classes else None})
            for s, i in zip(top_scores, top_labels)
        ],
    )


def inference_model(
    model: nn.Module,
    images: Union[str, np.ndarray, Sequence[Union[str, np.ndarray]]],
    topk: int = 5,
    batch_size: int = 8,
) -> list:
    """Class probabilities of images, through the model's test pipeline.

    Args:
        model (nn.Module): A model from :func:`init_model`.
        images (str | np.ndarray | Sequence): Image files, or arrays as the
            pipeline's loading step would give them (H x W x C, BGR for colour).
        topk (int): How many best classes each result lists (at most the
            number of classes). Default: 5.
        batch_size (int): Images per forward pass. Default: 8.

    Returns:
        list[dict]: Per image: ``image`` (the path, or None for an array),
        ``pred_label`` (int), ``pred_score`` (float), ``pred_scores``
        (np.ndarray of every class's probability), ``pred_class`` (str, or
        None without class names) and ``topk`` (list of ``label``, ``score``,
        ``class``, best first).
    """
    from mmengine.dataset import Compose, pseudo_collate
    from mmengine.registry import DefaultScope

    check_int('topk', topk, minimum=1)
    check_int('batch_size', batch_size, minimum=1)
    if isinstance(images, (str, np.ndarray)):
        images = [images]
    cfg = model.cfg
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope', 'se_plugin')):
        pipeline = inference_pipeline(cfg)
        load, rest = Compose(pipeline[:1]), Compose(pipeline[1:])
        samples = []
        for image in images:
            if isinstance(image, np.ndarray):
                data = dict(img=image, img_shape=image.shape[:2], ori_shape=image.shape[:2])
            else:
                data = load(dict(img_path=image))
            samples.append(rest(data))
    predicted = []
    with torch.no_grad():
        for batch in _batches(samples, batch_size):
            predicted.extend(model.test_step(pseudo_collate(batch)))
    classes = _classes(model, predicted[0].pred_score.numel()) if predicted else None
    return [
        _result(sample.metainfo.get('img_path'), sample.pred_score, topk, classes)
        for sample in predicted
    ]
