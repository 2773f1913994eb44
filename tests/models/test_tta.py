"""se_plugin.models.tta: the merged prediction's label is the mean score's arg-max."""

import torch
from mmpretrain.models.tta import AverageClsScoreTTA as MMPretrainTTA
from mmpretrain.structures import DataSample

from se_plugin.models import AverageClsScoreTTA
from se_plugin.registry import MODELS

CLASSIFIER = dict(
    type='mmpretrain.ImageClassifier',
    backbone=dict(type='se_plugin.SEResNet', depth=18, base_channels=8, stem_channels=8),
)


def views():
    first = DataSample(metainfo=dict(flip=True, flip_direction='horizontal', sample_idx=4))
    first.set_gt_label(1).set_pred_score(torch.tensor([0.6, 0.3, 0.1])).set_pred_label(0)
    second = DataSample(metainfo=dict(flip=False, sample_idx=4))
    second.set_gt_label(1).set_pred_score(torch.tensor([0.0, 0.9, 0.1])).set_pred_label(1)
    return [first, second]


def test_label_and_metainfo_of_the_merged_sample():
    (merged,) = AverageClsScoreTTA(module=CLASSIFIER).merge_preds([views()])
    assert torch.allclose(merged.pred_score, torch.tensor([0.3, 0.6, 0.1]))
    assert merged.pred_label.tolist() == [1] and merged.gt_label.tolist() == [1]
    assert merged.sample_idx == 4 and 'flip' not in merged.metainfo
    # mmpretrain's keeps the first view's label and flip flag
    (theirs,) = MMPretrainTTA(module=CLASSIFIER).merge_preds([views()])
    assert torch.equal(theirs.pred_score, merged.pred_score)
    assert theirs.pred_label.tolist() == [0] and theirs.flip


def test_the_se_plugin_scope_builds_ours():
    model = MODELS.build(dict(type='AverageClsScoreTTA', module=CLASSIFIER))
    assert type(model) is AverageClsScoreTTA
