"""Source models (timm, mmpretrain) with random weights, and comparing logits."""

import pytest
import torch
from torch import nn

import se_plugin  # noqa: F401  (registers se_plugin modules)
from se_plugin.convert import (
    ARCHS,
    build_model,
    convert_state_dict,
)
from se_plugin.registry import MODELS

TOL = 1e-4


def randomize(model: nn.Module, seed: int = 0) -> nn.Module:
    """Random BN affine and running stats and SE biases (inits leave them 1/0,
    and timm zero-inits the last BN of each block), then eval mode."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.weight.uniform_(0.2, 0.6, generator=gen)
                m.bias.normal_(0, 0.1, generator=gen)
                m.running_mean.normal_(0, 0.1, generator=gen)
                m.running_var.uniform_(0.5, 1.5, generator=gen)
                m.num_batches_tracked.fill_(7)
            elif isinstance(m, nn.Conv2d) and m.bias is not None:  # SE fc1/fc2
                m.bias.normal_(0, 0.5, generator=gen)
    model.eval()
    return model


def mmpretrain_peer(arch: str, num_classes: int = 1000) -> nn.Module:
    """mmpretrain's own SEResNet / SEResNeXt classifier for an mmpretrain arch."""
    from mmpretrain.registry import MODELS as MMPRETRAIN_MODELS

    spec = ARCHS['mmpretrain'][arch]
    ours = spec.backbone
    backbone = dict(
        type='mmpretrain.' + ours['type'].split('.')[-1],
        depth=ours['depth'],
        se_ratio=16,
        out_indices=(3,),
    )
    if 'groups' in ours:
        backbone.update(groups=ours['groups'], width_per_group=ours['width_per_group'])
    cfg = dict(spec.model_config(num_classes), backbone=backbone)
    return MMPRETRAIN_MODELS.build(cfg)


def timm_peer(arch: str, **kwargs) -> nn.Module:
    timm = pytest.importorskip('timm')
    return timm.create_model(arch, pretrained=False, **kwargs)


def logits(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        if hasattr(model, 'data_preprocessor'):  # mmpretrain ImageClassifier
            return model(x, mode='tensor')
        return model(x)


def assert_same_logits(peer: nn.Module, source: str, arch: str, batch: int = 1) -> float:
    ours = build_model(source, arch).eval()
    converted, cfg = convert_state_dict(
        peer.state_dict(), source, arch, reference=ours.state_dict()
    )
    ours.load_state_dict(converted, strict=True)
    x = torch.randn(batch, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    expected, got = logits(peer, x), logits(ours, x)
    diff = (expected - got).abs().max().item()
    assert diff <= TOL, f'{source} {arch}: max abs logit diff {diff}'
    assert expected.abs().max() > 1e-2  # a real signal, not two zero outputs
    return diff


def have_sknet() -> bool:
    return 'SKNet' in MODELS.module_dict


# The deepest (152) variants are checked once by logits (timm seresnet152d, which
# also covers the deep stem); the other 152s share rules with their 101 twins and
# are checked by keys and shapes in test_every_arch_builds_and_matches_keys.
TIMM_LOGIT_ARCHS = [
    'seresnet18',
    'seresnet34',
    'seresnet50',
    'seresnet101',
    'seresnet152d',
    'seresnext50_32x4d',
    'seresnext101_32x4d',
    'seresnext101_32x8d',
    'seresnext101d_32x8d',
    'seresnext101_64x4d',
    'skresnext50_32x4d',
    'ecaresnet50d',
    'ecaresnet101d',
]
MMPRETRAIN_LOGIT_ARCHS = ['seresnet50', 'seresnet101', 'seresnext50_32x4d', 'seresnext101_32x4d']
