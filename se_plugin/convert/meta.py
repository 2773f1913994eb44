"""What a converted checkpoint carries besides its weights: the source's
preprocessing, class names and a runnable test config.

``meta['cfg']`` is a config text, as mmengine's Runner writes into every
checkpoint it saves: the converted model, the source's test pipeline and
``data_preprocessor`` (mean/std), and for ImageNet-1k heads an ImageNet
``test_dataloader`` (``data/imagenet``, split ``val``) and top-1/top-5
evaluator, so ``tools/test.py CHECKPOINT`` and ``tools/infer.py CHECKPOINT
IMAGE`` run it with no config file. ``meta['dataset_meta']['classes']`` names
the classes when the source's label set is known (timm's ImageNet subsets,
mmpretrain's ImageNet-1k).

New archs need nothing here: the preprocessing is looked up by the arch's
source and name (:mod:`~se_plugin.convert.tags`, :mod:`~se_plugin.convert.preprocess`).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Optional

from se_plugin.version import __version__

from .archs import Arch
from .errors import ConversionError
from .preprocess import mmpretrain_eval_pipeline, timm_data_config, timm_eval_pipeline
from .tags import mmpretrain_tags

__all__ = ['checkpoint_meta', 'config_text', 'converted_config', 'source_preprocessing']

# the ImageNet-1k evaluation set of configs/_base_/datasets/imagenet_bs32.py
_IMAGENET_VAL = dict(type='ImageNet', data_root='data/imagenet', split='val')


def _timm_classes(subset: Optional[str], num_classes: int) -> Optional[list]:
    if subset is None:
        return None
    from timm.data import ImageNetInfo

    info = ImageNetInfo(subset)
    return list(info.label_descriptions()) if info.num_classes() == num_classes else None


def _timm_preprocessing(spec: Arch, tag: Optional[str], use_test_size: bool, num_classes: int):
    data_cfg, weights, subset = timm_data_config(spec.name, tag, use_test_size)
    pipeline, preprocessor = timm_eval_pipeline(data_cfg, num_classes)
    described = {k: data_cfg[k] for k in ('input_size', 'interpolation', 'crop_pct', 'crop_mode')}
    described.update(mean=data_cfg['mean'], std=data_cfg['std'])
    return dict(
        weights=weights,
        origin=f'timm pretrained_cfg {weights}' + (' (test size)' if use_test_size else ''),
        data_cfg=described,
        test_pipeline=pipeline,
        data_preprocessor=preprocessor,
        classes=_timm_classes(subset, num_classes),
        imagenet_1k=subset == 'imagenet-1k' and num_classes == 1000,
    )


def _mmpretrain_preprocessing(spec: Arch, tag: Optional[str], num_classes: int):
    models = mmpretrain_tags(spec.name, with_weights=False)
    if tag is not None and tag not in models:
        raise ConversionError(
            f"unknown --tag {tag!r} for mmpretrain {spec.name}; its models in mmpretrain's "
            f'model index: {", ".join(models) or "none"}'
        )
    model = tag or (models[0] if models else None)
    pipeline, preprocessor, path, dataset = mmpretrain_eval_pipeline(model)
    preprocessor['num_classes'] = num_classes
    imagenet_1k = dataset == 'ImageNet' and num_classes == 1000
    classes = None
    if imagenet_1k:
        from mmpretrain.datasets.categories import IMAGENET_CATEGORIES

        classes = list(IMAGENET_CATEGORIES)
    return dict(
        weights=model,
        origin=f'mmpretrain config {path}',
        data_cfg=None,
        test_pipeline=pipeline,
        data_preprocessor=preprocessor,
        classes=classes,
        imagenet_1k=imagenet_1k,
    )


def source_preprocessing(
    spec: Arch, tag: Optional[str] = None, use_test_size: bool = False, num_classes: int = 1000
) -> dict:
    """The source's evaluation preprocessing of the weights ``spec`` / ``tag``.

    Args:
        spec (Arch): The converted arch.
        tag (str, optional): The weight tag (timm: ``'ra2_in1k'``; mmpretrain: a
            model name such as ``'seresnet50_8xb32_in1k'``); None: timm's default
            tag of the arch, or the arch's first mmpretrain model. Default: None.
        use_test_size (bool): timm only: the tag's test-time size and crop.
            Default: False.
        num_classes (int): Classes of the converted head. Default: 1000.

    Returns:
        dict: ``weights`` (the full weights name), ``origin`` (where the
        preprocessing was read), ``data_cfg`` (timm's resolved values, or None),
        ``test_pipeline``, ``data_preprocessor``, ``classes`` (or None) and
        ``imagenet_1k`` (whether the head is ImageNet-1k's).
    """
    if spec.source == 'timm':
        return _timm_preprocessing(spec, tag, use_test_size, num_classes)
    if use_test_size:
        raise ConversionError("--test-size reads timm's test-time size: only for --from timm")
    return _mmpretrain_preprocessing(spec, tag, num_classes)


def converted_config(model_cfg: dict, preprocessing: dict) -> dict:
    """The config (a dict) that tests and predicts with a converted model.

    Args:
        model_cfg (dict): The converted model's ``ImageClassifier`` config.
        preprocessing (dict): :func:`source_preprocessing`'s result.

    Returns:
        dict: ``default_scope``, ``model``, ``data_preprocessor``,
        ``test_pipeline``, and for an ImageNet-1k head ``test_dataloader``,
        ``test_evaluator`` and ``test_cfg``.
    """
    pipeline = copy.deepcopy(preprocessing['test_pipeline'])
    cfg = dict(
        default_scope='se_plugin',
        model=copy.deepcopy(model_cfg),
        data_preprocessor=copy.deepcopy(preprocessing['data_preprocessor']),
        test_pipeline=pipeline,
    )
    if preprocessing['imagenet_1k']:
        cfg.update(
            test_dataloader=dict(
                batch_size=32,
                num_workers=5,
                dataset=dict(_IMAGENET_VAL, pipeline=copy.deepcopy(pipeline)),
                sampler=dict(type='DefaultSampler', shuffle=False),
            ),
            test_evaluator=dict(type='Accuracy', topk=(1, 5)),
            test_cfg=dict(),
        )
    return cfg


def config_text(cfg: dict) -> str:
    """``cfg`` as config text (mmengine's ``pretty_text``, the form of ``meta['cfg']``)."""
    from mmengine.config import Config

    return Config(copy.deepcopy(cfg)).pretty_text


def checkpoint_meta(
    spec: Arch,
    model_cfg: dict,
    tag: Optional[str] = None,
    use_test_size: bool = False,
    file: str = '',
    source_meta: Optional[Mapping] = None,
) -> dict:
    """The ``meta`` of a converted checkpoint (see :func:`convert_checkpoint`).

    Args:
        spec (Arch): The converted arch.
        model_cfg (dict): The converted model's config (``head`` None: backbone only).
        tag (str, optional): The weights' tag (:func:`source_preprocessing`). Default: None.
        use_test_size (bool): timm's test-time size and crop. Default: False.
        file (str): The source file, recorded. Default: ''.
        source_meta (Mapping, optional): The source file's ``meta``; its
            ``dataset_meta`` is kept. Default: None.

    Returns:
        dict: ``converted_by``, ``source``, ``arch``, ``num_classes``,
        ``backbone_only``, ``model``, ``preprocess``, and with a head ``cfg``
        (:func:`converted_config` as text) and ``dataset_meta`` when the classes
        are known.
    """
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
            file=file,
        ),
        arch=spec.name,
        num_classes=num_classes,
        backbone_only=head is None,
        model=model_cfg,
        preprocess=dict(origin=prep['origin'], data_cfg=prep['data_cfg']),
    )
    if head is not None:
        meta['cfg'] = config_text(converted_config(model_cfg, prep))
    if isinstance((source_meta or {}).get('dataset_meta'), Mapping):
        meta['dataset_meta'] = dict(source_meta['dataset_meta'])
    elif head is not None and prep['classes'] is not None:
        meta['dataset_meta'] = dict(classes=prep['classes'])
    return meta
