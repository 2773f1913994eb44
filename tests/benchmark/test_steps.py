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


def test_each_model_gets_its_own_channels_and_classes():
    """A 1-channel, 10-class model beside a 3-channel, 1000-class one (--num-classes 7)."""
    from se_plugin.benchmark import make_step
    from se_plugin.benchmark.steps import _batch, image_channels

    opts = Options(**dict(TINY_OPTS, num_classes=7))
    gray = build_model(f'{TINY},in_channels=1', num_classes=10)
    peer = build_model('torchvision.resnet18', num_classes=1000)
    assert (image_channels(gray), image_channels(peer)) == (1, 3)
    x, y = _batch(gray, opts, torch.device('cpu'))
    assert x.shape == (2, 1, 32, 32) and int(y.max()) < 10
    assert _batch(peer, opts, torch.device('cpu'))[0].shape == (2, 3, 32, 32)
    for mode in ('train', 'inference'):
        make_step(gray, mode, opts, torch.device('cpu'))()
