"""se_plugin.convert.archs: each Arch's model and rules give the source's logits."""

import os

import pytest
import torch

import se_plugin  # noqa: F401  (registers se_plugin modules)
from se_plugin.convert import (
    ConversionError,
    build_model,
    convert_state_dict,
    get_arch,
    list_archs,
)
from se_plugin.registry import MODELS

from .peers import (
    MMPRETRAIN_LOGIT_ARCHS,
    TIMM_LOGIT_ARCHS,
    TOL,
    assert_same_logits,
    have_sknet,
    logits,
    mmpretrain_peer,
    randomize,
    timm_peer,
)


@pytest.mark.parametrize('arch', TIMM_LOGIT_ARCHS)
def test_timm_logits_match(arch):
    if arch.startswith('sk') and not have_sknet():
        pytest.skip('se_plugin.SKNet is not available')
    assert_same_logits(randomize(timm_peer(arch)), 'timm', arch)


@pytest.mark.parametrize('arch', MMPRETRAIN_LOGIT_ARCHS)
def test_mmpretrain_logits_match(arch):
    assert_same_logits(randomize(mmpretrain_peer(arch)), 'mmpretrain', arch)


@pytest.mark.parametrize('arch', ['ecaresnet50d', 'ecaresnet101d'])
def test_timm_eca_weights_give_timm_logits_in_their_configs(arch, repo_root):
    """The converted ECA-ResNet-D weights load into the model of their config
    (configs/attention/eca_resnet{50,101}d_imagenet.py) and give timm's logits; the
    ECA convs count (a changed kernel changes the logits)."""
    from mmengine.config import Config

    name = arch.replace('ecaresnet', 'eca_resnet')
    cfg = Config.fromfile(os.path.join(repo_root, 'configs', 'attention', f'{name}_imagenet.py'))
    peer = randomize(timm_peer(arch))
    ours = MODELS.build(cfg.model).eval()
    converted, _ = convert_state_dict(peer.state_dict(), 'timm', arch)
    ours.load_state_dict(converted, strict=True)
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    expected, got = logits(peer, x), logits(ours, x)
    assert (expected - got).abs().max() <= TOL
    with torch.no_grad():
        ours.backbone.layer4[2].attn.conv.weight.mul_(-1.0)
    assert (logits(ours, x) - got).abs().max() > 10 * TOL


def test_every_arch_is_tested_or_shape_checked():
    shape_checked = {('timm', 'seresnet152'), ('mmpretrain', 'seresnet152')}
    shape_checked |= {('mmpretrain', 'seresnext152_32x4d')}
    logit_checked = {('timm', a) for a in TIMM_LOGIT_ARCHS}
    logit_checked |= {('mmpretrain', a) for a in MMPRETRAIN_LOGIT_ARCHS}
    every = {tuple(name.split(':')) for name in list_archs()}
    assert every == shape_checked | logit_checked


def test_152_archs_match_keys_and_shapes():
    # timm on the meta device (no memory, no init); ours once for the three
    ours = build_model('timm', 'seresnet152').state_dict()
    with torch.device('meta'):
        peer = timm_peer('seresnet152')
    converted, _ = convert_state_dict(peer.state_dict(), 'timm', 'seresnet152', reference=ours)
    assert list(converted) == list(ours)
    # mmpretrain's SE-ResNet-152 keys, renamed by hand, are what the rules give
    mm = {
        k.replace('.attn.fc1.', '.se_layer.conv1.conv.').replace(
            '.attn.fc2.', '.se_layer.conv2.conv.'
        ): v
        for k, v in ours.items()
    }
    converted, _ = convert_state_dict(mm, 'mmpretrain', 'seresnet152', reference=ours)
    assert list(converted) == list(ours)
    ours_x = build_model('mmpretrain', 'seresnext152_32x4d').state_dict()
    peer_x = mmpretrain_peer('seresnext152_32x4d').state_dict()
    assert any('se_layer.conv1.conv' in k for k in peer_x)
    convert_state_dict(peer_x, 'mmpretrain', 'seresnext152_32x4d', reference=ours_x)


def test_se_weights_matter():
    """The logit comparison sees the SE layers: a changed SE bias changes the logits."""
    peer = randomize(mmpretrain_peer('seresnet50'))
    ours = build_model('mmpretrain', 'seresnet50').eval()
    converted, _ = convert_state_dict(peer.state_dict(), 'mmpretrain', 'seresnet50')
    ours.load_state_dict(converted)
    x = torch.randn(1, 3, 64, 64)
    before = logits(ours, x)
    with torch.no_grad():
        ours.backbone.layer4[2].attn.fc2.bias.add_(1.0)
    assert (logits(ours, x) - before).abs().max() > 10 * TOL


def test_timm_se_widths_match_ours():
    """timm's SE width (make_divisible(C/16, 8), round_limit 0) equals ours for every stage."""
    peer = timm_peer('seresnet18')
    ours = build_model('timm', 'seresnet18')
    timm_widths = [m.fc1.out_channels for n, m in peer.named_modules() if n.endswith('.se')]
    our_widths = [m.squeeze_channels for n, m in ours.named_modules() if n.endswith('.attn')]
    assert timm_widths == our_widths == [8, 8, 8, 8, 16, 16, 32, 32]


def test_unknown_arch_and_source():
    with pytest.raises(ConversionError, match=r"unknown --arch 'seresnet9'.*seresnet50"):
        get_arch('timm', 'seresnet9')
    with pytest.raises(ConversionError, match="'seresnext152_32x4d' is a --from mmpretrain"):
        get_arch('timm', 'seresnext152_32x4d')
    with pytest.raises(ConversionError, match=r"--from must be one of timm, mmpretrain; got 'tf'"):
        get_arch('tf', 'seresnet50')
    with pytest.raises(ConversionError, match='--from must be one of'):
        list_archs('torchvision')
