"""se_plugin.runtime.loop_checks: an evaluator or an lr that cannot work is refused
before the first batch, and nothing the loops use is changed by the checks."""

import re

import pytest
import torch
from mmengine.evaluator import Evaluator
from mmpretrain.evaluation import Accuracy, SingleLabelMetric
from mmpretrain.registry import MODELS

from se_plugin.runtime.errors import ConfigError
from se_plugin.runtime.loop_checks import check_evaluator, check_first_step


def _classifier(num_classes):
    return MODELS.build(
        dict(
            type='ImageClassifier',
            backbone=dict(type='ResNet', depth=18, base_channels=8, stem_channels=8),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(type='LinearClsHead', num_classes=num_classes, in_channels=64),
        )
    )


@pytest.mark.parametrize(
    'topk, num_classes, refused',
    [((1,), 2, False), ((1, 2), 2, False), ((1, 5), 2, True), (3, 2, True), ((1, 5), 10, False)],
)
def test_topk_above_the_scored_classes_is_refused(topk, num_classes, refused):
    evaluator = Evaluator(Accuracy(topk=topk))
    top = max(topk) if isinstance(topk, tuple) else topk
    if refused:
        message = f'asks for top-{top} accuracy, but the model scores {num_classes} classes'
        with pytest.raises(ConfigError, match=message):
            check_evaluator(evaluator, _classifier(num_classes), 'val_evaluator')
    else:
        check_evaluator(evaluator, _classifier(num_classes), 'val_evaluator')


def test_other_models_and_metrics_are_not_judged():
    check_evaluator(Evaluator(Accuracy(topk=(1, 5))), torch.nn.Linear(2, 2), 'x')
    check_evaluator(Evaluator(SingleLabelMetric()), _classifier(2), 'x')


def _params(dtype=torch.float32):
    return [torch.nn.Parameter(torch.randn(3, dtype=dtype))]


@pytest.mark.parametrize(
    'optimizer, lr, refused',
    [
        (torch.optim.SGD, 1e39, 'overflows in its first step'),
        (torch.optim.SGD, 1e38, None),
        (torch.optim.AdamW, 1e39, 'overflows in its first step'),
        # Adam's first step is lr / (1 - beta1) = 10 lr: 1e38 overflows fp32 too
        (torch.optim.Adam, 1e38, 'overflows in its first step'),
        (torch.optim.Adam, 1e36, None),
        (torch.optim.AdamW, 1e-3, None),
    ],
)
def test_lr_overflowing_the_first_step_is_refused(optimizer, lr, refused):
    params = _params()
    before = params[0].detach().clone()
    opt = optimizer(params, lr=lr)
    if refused:
        with pytest.raises(
            ConfigError,
            match=re.escape(f'group 0 has lr {lr:g}, which ') + f'.* float32 .*{refused}',
        ):
            check_first_step(opt)
    else:
        check_first_step(opt)
    # the real optimizer and its parameters are untouched
    assert torch.equal(params[0], before) and not opt.state
    assert opt.param_groups[0]['lr'] == lr


def test_the_scheduled_peak_lr_and_the_dtype_are_checked():
    # a warm-up starts low; the schedule returns to initial_lr, which overflows in fp16
    params = _params(torch.float16)
    opt = torch.optim.SGD(params, lr=1e-3)
    opt.param_groups[0]['initial_lr'] = 1e5
    with pytest.raises(
        ConfigError, match='lr 100000 \\(scaled by auto_scale_lr\\), which SGD on float16'
    ):
        check_first_step(opt, scaled=True)
    check_first_step(torch.optim.SGD(_params(torch.float32), lr=1e5))
