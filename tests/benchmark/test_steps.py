"""se_plugin.benchmark.steps: one train step or inference pass."""

import torch

from se_plugin.benchmark import (
    Options,
    build_model,
)

from .tiny import TINY, TINY_OPTS


def test_train_step_updates_parameters():
    from se_plugin.benchmark import make_step

    model = build_model(TINY, num_classes=10)
    before = [p.detach().clone() for p in model.parameters()]
    make_step(model, 'train', Options(**TINY_OPTS), torch.device('cpu'))()
    assert any(not torch.equal(a, p) for a, p in zip(before, model.parameters()))
