"""An attention module in ResNet-50's slot, ours and timm's: parameter counts and outputs.

timm's ``resnet50(block_args=dict(attn_layer=...))`` puts the module where our
``SEResNet(50, attn_cfg=...)`` does (after the last norm of each bottleneck,
before the addition), and both name the rest of the network alike, so timm's
weights copy into ours with a rename of the attention's own keys.
"""

from __future__ import annotations

import re
from typing import Callable, Optional

import pytest
import torch
from torch import nn

from se_plugin.models import SEResNet

# (channels of the slot, number of bottlenecks) per stage of ResNet-50
RESNET50_SLOTS = ((256, 3), (512, 4), (1024, 6), (2048, 3))
RESNET50_BACKBONE_PARAMS = 23_508_032  # ResNet-50 without its 1000-class fc (25,557,032)


def num_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def slot_params(per_layer: Callable[[int], int]) -> int:
    """ResNet-50's backbone parameters plus ``per_layer(C)`` for every slot."""
    return RESNET50_BACKBONE_PARAMS + sum(n * per_layer(c) for c, n in RESNET50_SLOTS)


def ours(attn_cfg: dict) -> nn.Module:
    return SEResNet(50, attn_cfg=attn_cfg, out_indices=(3,))


def timm_resnet50(attn_layer) -> nn.Module:
    timm = pytest.importorskip('timm')
    return timm.create_model('resnet50', num_classes=0, block_args=dict(attn_layer=attn_layer))


def randomize(model: nn.Module, seed: int = 0) -> nn.Module:
    """Random values everywhere (inits hide mistakes: zero-init BNs and convs, unit gates)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * (0.5 / max(1, p[0].numel()) ** 0.5))
            if name.endswith(('bn1.weight', 'bn2.weight', 'bn3.weight')):
                p.uniform_(0.5, 1.0, generator=gen)
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.normal_(0, 0.1, generator=gen)
                m.running_var.uniform_(0.5, 1.5, generator=gen)
    return model.eval()


def copy_timm_weights(
    timm_model: nn.Module, model: nn.Module, rename: Optional[tuple] = ()
) -> nn.Module:
    """Load timm's state dict into ``model``; ``rename``: (pattern, replacement) for keys."""
    state = {}
    for key, value in timm_model.state_dict().items():
        for pattern, replacement in rename:
            key = re.sub(pattern, replacement, key)
        state[key] = value
    model.load_state_dict(state, strict=True)
    return model


def assert_same_features(timm_model: nn.Module, model: nn.Module, size: int = 64, **tol):
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = timm_model.forward_features(x)
        got = model(x)[-1]
    assert expected.abs().max() > 0
    torch.testing.assert_close(got, expected, **tol)
