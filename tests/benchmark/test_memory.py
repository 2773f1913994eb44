"""se_plugin.benchmark.memory: activation memory saved for the backward."""

import pytest
import torch

from se_plugin.benchmark import (
    Options,
    build_model,
)

from .tiny import TINY_OPTS


@pytest.mark.parametrize('channels_last', [False, True])
def test_saved_activations_fused_se_keeps_less_than_the_reference(channels_last):
    """The fused SE keeps nothing beyond what the plain block keeps; autograd's SE does."""
    from se_plugin.benchmark import saved_activation_bytes

    opts = Options(channels_last=channels_last, **TINY_OPTS)
    spec = 'se_plugin.SEResNet:depth=18'
    saved = {}
    for name, extra in [
        ('plain', ',attn_cfg=None'),
        ('fused', ''),
        ('ref', ',attn_cfg.impl="reference"'),
    ]:
        model = build_model(spec + extra, num_classes=10)
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
        saved[name] = saved_activation_bytes(model, opts, torch.device('cpu'))
    assert saved['plain'] > 0
    # the SE layers' own (N, C) vectors only: under 1% on top of the plain network
    assert saved['plain'] <= saved['fused'] < 1.01 * saved['plain']
    assert saved['ref'] > 1.1 * saved['plain']  # autograd keeps the SE input and more
