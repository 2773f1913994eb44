"""Source models (timm, mmpretrain) with random weights, and comparing logits."""

import pytest
import torch
from torch import nn

import se_plugin  # noqa: F401  (registers se_plugin modules)
from se_plugin.convert import (
    ARCHS,
    convert_state_dict,
)
from se_plugin.models.builder import build_model as build_config
from se_plugin.registry import MODELS

# fp32 logits of a converted model vs its source (measured: ~5e-8 .. 1e-7)
TOL = 1e-5


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


def arch_layers(source: str, arch: str) -> tuple:
    """Blocks per stage of an arch's backbone (``stage_blocks``, else its depth's)."""
    backbone = ARCHS[source][arch].backbone
    if 'stage_blocks' in backbone:
        return tuple(backbone['stage_blocks'])
    cls = MODELS.get(backbone['type'].split('.')[-1])
    return tuple(cls.arch_settings[backbone['depth']][1])


def reduced_layers(source: str, arch: str) -> tuple:
    """At most 2 blocks per stage: every kind of block (first, strided, repeated) once."""
    return tuple(min(n, 2) for n in arch_layers(source, arch))


def assert_same_logits(
    peer: nn.Module, source: str, arch: str, batch: int = 2, stage_blocks=None
) -> float:
    """Convert ``peer``'s weights, load them strictly, compare logits at 64 px (fp32, eval).

    ``stage_blocks``: our model with these blocks per stage (the peer built alike).
    """
    cfg = ARCHS[source][arch].model_config()
    if stage_blocks is not None:
        cfg['backbone']['stage_blocks'] = tuple(stage_blocks)
    ours = build_config(cfg).eval()
    converted, _ = convert_state_dict(peer.state_dict(), source, arch, reference=ours.state_dict())
    ours.load_state_dict(converted, strict=True)
    x = torch.randn(batch, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    expected, got = logits(peer, x), logits(ours, x)
    diff = (expected - got).abs().max().item()
    assert diff <= TOL, f'{source} {arch}: max abs logit diff {diff}'
    assert expected.abs().max() > 1e-2  # a real signal, not two zero outputs
    return diff
