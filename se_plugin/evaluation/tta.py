"""``tools/test.py --tta``: test with augmented copies of each image, scores averaged.

As mmpretrain's ``tools/test.py --tta``: the model becomes the config's
``tta_model`` (default ``AverageClsScoreTTA``: the mean of the class scores)
around the config's model, and the test pipeline becomes ``tta_pipeline``
(default :func:`flip_tta_pipeline`: the image and its horizontal mirror).
mmengine's ``BaseTTAModel`` hands the config's ``data_preprocessor`` to the
wrapped model, which runs the forward passes. The views must come after the
test pipeline's own steps: a ``tta_pipeline`` that repeats those steps with
other arguments (a stale copy) is refused.
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


def _check_same_steps(tta_steps: Sequence[Mapping], test_pipeline: Sequence[Mapping]) -> None:
    """Refuse a ``tta_pipeline`` whose steps before ``TestTimeAug`` are the test
    pipeline's steps with other arguments: it was copied from a test pipeline that
    has changed since (``--cfg-options``, or a config that redefines ``test_pipeline``
    below a base that built ``tta_pipeline``)."""
    for index, (tta_step, test_step) in enumerate(zip(tta_steps, test_pipeline)):
        if _type(tta_step) != _type(test_step):
            return  # another design (e.g. multi-scale views): not a copy
        if dict(tta_step) != dict(test_step):
            raise ConfigError(
                f'--tta: step {index} of tta_pipeline is {dict(tta_step)} but the test '
                f'pipeline runs {dict(test_step)}; set tta_pipeline to match'
            )


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
    _check_same_steps(tta_pipeline[:-1], dataset['pipeline'])
    tta_model = copy.deepcopy(cfg.get('tta_model') or DEFAULT_TTA_MODEL)
    cfg.model = ConfigDict(**tta_model, module=copy.deepcopy(cfg.model))
    dataset['pipeline'] = copy.deepcopy(tta_pipeline)
