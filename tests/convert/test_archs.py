"""se_plugin.convert.archs: each Arch's model and rules give the source's logits."""

import os
import re

import pytest
import torch

import se_plugin  # noqa: F401  (registers se_plugin modules)
from se_plugin.convert import (
    ARCHS,
    ConversionError,
    build_model,
    convert_state_dict,
    get_arch,
    list_archs,
)
from se_plugin.convert.archs import NOT_CONVERTIBLE
from se_plugin.registry import MODELS

from .peers import (
    TOL,
    assert_same_logits,
    build_config,
    logits,
    mmpretrain_peer,
    randomize,
    reduced_layers,
    timm_peer,
)

TIMM_ARCHS = list(ARCHS['timm'])
# mmpretrain's SEResNet has no stage_blocks: full depth, the 152s by keys and shapes
MMPRETRAIN_LOGIT_ARCHS = ['seresnet50', 'seresnet101', 'seresnext50_32x4d', 'seresnext101_32x4d']


@pytest.mark.parametrize('arch', TIMM_ARCHS)
def test_timm_logits_match(arch):
    """Every timm arch at <= 2 blocks per stage (timm merges ``layers`` into its
    entrypoints' arguments), random weights and BN statistics, 64 px, fp32."""
    layers = reduced_layers('timm', arch)
    peer = randomize(timm_peer(arch, layers=layers))
    assert_same_logits(peer, 'timm', arch, stage_blocks=layers)


@pytest.mark.parametrize('arch', MMPRETRAIN_LOGIT_ARCHS)
def test_mmpretrain_logits_match(arch):
    assert_same_logits(randomize(mmpretrain_peer(arch)), 'mmpretrain', arch)


def _converted_into(arch: str, **backbone) -> tuple:
    """A reduced random timm ``arch``, and its weights loaded into our model with
    ``backbone`` changed (the same keys and shapes)."""
    layers = reduced_layers('timm', arch)
    peer = randomize(timm_peer(arch, layers=layers))
    cfg = get_arch('timm', arch).model_config()
    cfg['backbone'].update(stage_blocks=layers, **backbone)
    ours = build_config(cfg).eval()
    reference = ours.state_dict()
    converted, _ = convert_state_dict(peer.state_dict(), 'timm', arch, reference=reference)
    ours.load_state_dict(converted, strict=True)
    return peer, ours


@pytest.mark.parametrize(
    'arch, option',
    [
        ('legacy_seresnet50', dict(stem_pool='max')),  # Caffe's pool: windows shifted by one
        ('seresnetaa50d', dict(anti_alias=None)),  # strided conv instead of conv + avg pool
    ],
)
def test_semantic_options_matter(arch, option):
    """Options that change no key or shape: the logit check sees each of them."""
    peer, ours = _converted_into(arch, **option)
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    assert (logits(peer, x) - logits(ours, x)).abs().max() > 10 * TOL


@pytest.mark.parametrize('arch', ['ecaresnet50d', 'ecaresnet101d'])
def test_timm_eca_weights_give_timm_logits_in_their_configs(arch, repo_root):
    """The converted ECA-ResNet-D weights load into the model of their config
    (configs/attention/eca_resnet{50,101}d_imagenet.py) and give timm's logits; the
    ECA convs count (a changed kernel changes the logits)."""
    from mmengine.config import Config

    name = arch.replace('ecaresnet', 'eca_resnet')
    cfg = Config.fromfile(os.path.join(repo_root, 'configs', 'attention', f'{name}_imagenet.py'))
    cfg.model.backbone.stage_blocks = layers = reduced_layers('timm', arch)
    peer = randomize(timm_peer(arch, layers=layers))
    ours = MODELS.build(cfg.model).eval()
    reference = ours.state_dict()
    converted, _ = convert_state_dict(peer.state_dict(), 'timm', arch, reference=reference)
    ours.load_state_dict(converted, strict=True)
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    expected, got = logits(peer, x), logits(ours, x)
    assert (expected - got).abs().max() <= TOL
    with torch.no_grad():
        ours.backbone.layer4[1].attn.conv.weight.mul_(-1.0)
    assert (logits(ours, x) - got).abs().max() > 10 * TOL


def test_every_arch_is_checked_by_logits_or_keys():
    shape_checked = {('mmpretrain', 'seresnet152'), ('mmpretrain', 'seresnext152_32x4d')}
    logit_checked = {('timm', a) for a in TIMM_ARCHS}
    logit_checked |= {('mmpretrain', a) for a in MMPRETRAIN_LOGIT_ARCHS}
    every = {tuple(name.split(':')) for name in list_archs()}
    assert every == shape_checked | logit_checked


def test_mmpretrain_152_archs_match_keys_and_shapes():
    ours = build_model('mmpretrain', 'seresnet152').state_dict()
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


def _docs_params() -> dict:
    """``{arch: params}`` from the "What converts" table of docs/pretrained.md."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with open(os.path.join(root, 'docs', 'pretrained.md')) as f:
        text = f.read()
    row = re.compile(r'^\| timm \| `(?P<arch>\w+)` \| (?P<params>[\d,]+) \|', re.M)
    return {m['arch']: int(m['params'].replace(',', '')) for m in row.finditer(text)}


@pytest.mark.slow
@pytest.mark.parametrize('arch', TIMM_ARCHS)
def test_timm_full_depth_params_and_keys(arch):
    """At full depth (timm on the meta device): every key renamed onto ours with its
    shape, the same number of parameters as timm, and as docs/pretrained.md says."""
    with torch.device('meta'):
        peer = timm_peer(arch)
    ours = build_model('timm', arch)  # on the CPU: mmpretrain's ResNet calls .item()
    reference = ours.state_dict()
    converted, _ = convert_state_dict(peer.state_dict(), 'timm', arch, reference=reference)
    assert list(converted) == list(reference)
    params = sum(p.numel() for p in ours.parameters())
    assert params == sum(p.numel() for p in peer.parameters())
    assert _docs_params()[arch] == params


def test_timm_se_widths_match_ours():
    """timm's SE width (make_divisible(C/16, 8), round_limit 0) equals ours for every stage."""
    peer = timm_peer('seresnet18')
    ours = build_model('timm', 'seresnet18')
    timm_widths = [m.fc1.out_channels for n, m in peer.named_modules() if n.endswith('.se')]
    our_widths = [m.squeeze_channels for n, m in ours.named_modules() if n.endswith('.attn')]
    assert timm_widths == our_widths == [8, 8, 8, 8, 16, 16, 32, 32]


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


def test_unknown_arch_and_source():
    with pytest.raises(ConversionError, match=r"unknown --arch 'seresnet9'.*seresnet50"):
        get_arch('timm', 'seresnet9')
    with pytest.raises(ConversionError, match="'seresnext152_32x4d' is a --from mmpretrain"):
        get_arch('timm', 'seresnext152_32x4d')
    with pytest.raises(ConversionError, match=r"--from must be one of timm, mmpretrain; got 'tf'"):
        get_arch('tf', 'seresnet50')
    with pytest.raises(ConversionError, match='--from must be one of'):
        list_archs('torchvision')


@pytest.mark.parametrize('arch', sorted(NOT_CONVERTIBLE['timm']))
def test_family_models_that_do_not_convert_say_why(arch):
    with pytest.raises(ConversionError, match=rf'^timm {arch} does not convert: .+docs/pretrained'):
        get_arch('timm', arch)
    assert arch not in ARCHS['timm']


def test_the_family_is_covered():
    """Every model timm has in the family converts or says why not."""
    timm = pytest.importorskip('timm')
    family = {
        name
        for pattern in ('seresne*', 'ecaresne*', 'skresne*', 'legacy_se*', 'senet*', 'resnetrs*')
        for name in timm.list_models(pattern)
    }
    assert family == set(ARCHS['timm']) | set(NOT_CONVERTIBLE['timm'])
