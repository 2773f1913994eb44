"""Test-time augmentation for classifiers: the augmented views' scores averaged."""

from __future__ import annotations

from mmpretrain.models.tta import AverageClsScoreTTA as _AverageClsScoreTTA
from mmpretrain.structures import DataSample

from se_plugin.registry import MODELS

__all__ = ['AverageClsScoreTTA']

# per-view metainfo that TestTimeAug's transforms add; the merged sample is no one view
_VIEW_KEYS = ('flip', 'flip_direction')


@MODELS.register_module()
class AverageClsScoreTTA(_AverageClsScoreTTA):
    """mmpretrain's ``AverageClsScoreTTA`` (same arguments) with a consistent result.

    mmpretrain's merged sample is a copy of the first view with the mean score
    set: its ``pred_label`` stays the first view's prediction (and its
    metainfo says ``flip=True`` under flip TTA), so ``tools/test.py --tta
    --out`` dumps labels that disagree with the scores. Here ``pred_label`` is
    the arg-max of the mean score and the views' own metainfo is left out.

    Example:
        >>> import torch
        >>> from mmpretrain.structures import DataSample
        >>> views = [DataSample().set_pred_score(torch.tensor([0.6, 0.4])).set_pred_label(0),
        ...          DataSample().set_pred_score(torch.tensor([0.0, 1.0])).set_pred_label(1)]
        >>> classifier = dict(type='mmpretrain.ImageClassifier',
        ...                   backbone=dict(type='se_plugin.SEResNet', depth=18))
        >>> merged = AverageClsScoreTTA(module=classifier)._merge_single_sample(views)
        >>> merged.pred_score.tolist(), merged.pred_label.tolist()
        ([0.30000001192092896, 0.699999988079071], [1])
    """

    def _merge_single_sample(self, data_samples: list) -> DataSample:
        first = data_samples[0]
        metainfo = {k: v for k, v in first.metainfo.items() if k not in _VIEW_KEYS}
        merged = DataSample(metainfo=metainfo)
        if 'gt_label' in first:
            merged.set_gt_label(first.gt_label)
        score = sum(sample.pred_score for sample in data_samples) / len(data_samples)
        return merged.set_pred_score(score).set_pred_label(score.argmax(dim=-1, keepdim=True))
