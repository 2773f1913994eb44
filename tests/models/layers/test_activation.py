"""se_plugin.models.layers.activation."""

import warnings

import pytest
import torch

from se_plugin.models import CBAM, ECALayer, EffectiveSELayer, SELayer
from se_plugin.models.layers.activation import build_activation

PAIR = (dict(type='ReLU'), dict(type='HSigmoid'))  # hidden activation, gate


@pytest.mark.parametrize(
    'build',
    [
        lambda: SELayer(16, act_cfg=PAIR),
        lambda: CBAM(16, act_cfg=PAIR),
        lambda: ECALayer(16, act_cfg=dict(type='HSigmoid')),
        lambda: EffectiveSELayer(16),  # the hard sigmoid is its default gate
    ],
    ids=['se', 'cbam', 'eca', 'ese'],
)
def test_hard_sigmoid_gates_build_without_warnings(build):
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        module = build()
    assert module(torch.randn(1, 16, 3, 3)).shape == (1, 16, 3, 3)


def test_the_gate_is_relu6_shifted():
    gate = build_activation(dict(type='HSigmoid'))
    x = torch.linspace(-5, 5, 41)
    torch.testing.assert_close(gate(x), torch.nn.functional.relu6(x + 3) / 6)
