"""``tools/test.py --tta``: test with augmented copies of each image, scores averaged.

As mmpretrain's ``tools/test.py --tta``: the model becomes the config's
``tta_model`` (default ``AverageClsScoreTTA``: the mean of the class scores)
around the config's model, and the test pipeline becomes ``tta_pipeline``
(default :func:`flip_tta_pipeline`: the image and its horizontal mirror). One
difference: the data preprocessor (normalisation) goes with the inner model,
which runs the forward passes; mmpretrain leaves it on the wrapper, so the
inner classifier sees unnormalised images when the config keeps
``data_preprocessor`` at the top level, as OpenMMLab configs do.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence

from mmengine.config import Config, ConfigDict

from se_plugin.runtime.errors import ConfigError

__all__ = ['DEFAULT_TTA_MODEL', 'flip_tta_pipeline', 'use_tta']

DEFAULT_TTA_MODEL = dict(type='AverageClsScoreTTA')


def _type(transform: Mapping) -> str:
    return str(transform.get('type', '')).split('.')[-1]


def flip_tta_pipeline(test_pipeline: Sequence[Mapping]) -> list:
    """The test pipeline with its last step (``PackInputs``) run on the image
    and on its horizontal mirror (``TestTimeAug``).

    Example:
        >>> pipeline = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]
        >>> flip_tta_pipeline(pipeline)[-1]['transforms'][0]
        [{'type': 'RandomFlip', 'prob': 1.0}, {'type': 'RandomFlip', 'prob': 0.0}]
    """
    if not test_pipeline:
        raise ConfigError('the test pipeline is empty: nothing to augment')
    pipeline = [dict(t) for t in copy.deepcopy(list(test_pipeline))]
    flips = [dict(type='RandomFlip', prob=1.0), dict(type='RandomFlip', prob=0.0)]
    return [*pipeline[:-1], dict(type='TestTimeAug', transforms=[flips, [pipeline[-1]]])]


def use_tta(cfg: Config) -> None:
    """Make ``cfg`` test with test-time augmentation (in place).

    Args:
        cfg (Config): A test config; its ``tta_model`` and ``tta_pipeline`` are
            used when set (the pipeline must end with ``TestTimeAug``).
    """
    dataset = (cfg.get('test_dataloader') or {}).get('dataset')
    if not isinstance(dataset, Mapping) or not dataset.get('pipeline'):
        raise ConfigError('--tta: the config has no test_dataloader.dataset.pipeline')
    tta_pipeline = cfg.get('tta_pipeline') or flip_tta_pipeline(dataset['pipeline'])
    if not tta_pipeline or _type(tta_pipeline[-1]) != 'TestTimeAug':
        raise ConfigError(
            '--tta: tta_pipeline must end with a TestTimeAug step, got '
            f'{_type(tta_pipeline[-1]) if tta_pipeline else "an empty pipeline"!r}'
        )
    module = copy.deepcopy(cfg.model)
    if cfg.get('data_preprocessor') is not None:
        module.setdefault('data_preprocessor', copy.deepcopy(cfg.data_preprocessor))
    tta_model = copy.deepcopy(cfg.get('tta_model') or DEFAULT_TTA_MODEL)
    cfg.model = ConfigDict(**tta_model, module=module)
    dataset['pipeline'] = copy.deepcopy(tta_pipeline)
