"""se_plugin.convert: timm / mmpretrain weights give the same logits in our models."""

import copy
import os

import pytest
import torch
from torch import nn

import se_plugin  # noqa: F401  (registers se_plugin modules)
from se_plugin.convert import (
    ARCHS,
    ConversionError,
    build_model,
    check_state_dict,
    convert_checkpoint,
    convert_state_dict,
    get_arch,
    list_archs,
    read_source,
)
from se_plugin.registry import MODELS
from se_plugin.runtime.checkpoint import load_checkpoint_file

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
        ours.backbone.layer4[2].se.conv.weight.mul_(-1.0)
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
        k.replace('.se.fc1.', '.se_layer.conv1.conv.').replace(
            '.se.fc2.', '.se_layer.conv2.conv.'
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
        ours.backbone.layer4[2].se.fc2.bias.add_(1.0)
    assert (logits(ours, x) - before).abs().max() > 10 * TOL


def test_timm_se_widths_match_ours():
    """timm's SE width (make_divisible(C/16, 8), round_limit 0) equals ours for every stage."""
    peer = timm_peer('seresnet18')
    ours = build_model('timm', 'seresnet18')
    timm_widths = [m.fc1.out_channels for n, m in peer.named_modules() if n.endswith('.se')]
    our_widths = [m.squeeze_channels for n, m in ours.named_modules() if n.endswith('.se')]
    assert timm_widths == our_widths == [8, 8, 8, 8, 16, 16, 32, 32]


# ------------------------------------------------------------------ files and loading


@pytest.fixture(scope='module')
def seresnet18_files(tmp_path_factory):
    """A random timm seresnet18 as .pth and .safetensors, and its logits."""
    timm = pytest.importorskip('timm')
    root = tmp_path_factory.mktemp('timm')
    peer = randomize(timm.create_model('seresnet18', pretrained=False))
    pth = str(root / 'seresnet18.pth')
    torch.save(peer.state_dict(), pth)
    files = {'pth': pth}
    try:
        from safetensors.torch import save_file

        files['safetensors'] = str(root / 'seresnet18.safetensors')
        save_file(peer.state_dict(), files['safetensors'])
    except ImportError:
        pass
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    return files, x, logits(peer, x)


@pytest.mark.parametrize('kind', ['pth', 'safetensors'])
def test_convert_file_and_load_from(seresnet18_files, tmp_path, kind):
    from mmengine.runner import load_checkpoint

    files, x, expected = seresnet18_files
    if kind not in files:
        pytest.skip('safetensors is not installed')
    dst = str(tmp_path / 'converted.pth')
    meta = convert_checkpoint(files[kind], dst, 'timm', 'seresnet18')
    saved = load_checkpoint_file(dst)  # weights_only=True: plain tensors and dicts
    assert set(saved) == {'state_dict', 'meta'}
    assert saved['meta'] == meta and meta['num_classes'] == 1000
    # what `load_from` does (Runner.load_checkpoint), strictly
    model = MODELS.build(meta['model']).eval()
    load_checkpoint(model, dst, map_location='cpu', strict=True)
    assert (logits(model, x) - expected).abs().max() <= TOL


def test_init_cfg_pretrained_with_backbone_prefix(seresnet18_files, tmp_path):
    files, x, expected = seresnet18_files
    dst = str(tmp_path / 'converted.pth')
    meta = convert_checkpoint(files['pth'], dst, 'timm', 'seresnet18')
    cfg = copy.deepcopy(meta['model'])
    cfg['backbone']['init_cfg'] = dict(type='Pretrained', checkpoint=dst, prefix='backbone.')
    cfg['head']['num_classes'] = 10  # a new head for fine-tuning
    model = MODELS.build(cfg)
    model.init_weights()
    model.eval()
    converted = torch.load(dst, weights_only=True)['state_dict']
    for key, value in model.backbone.state_dict().items():
        assert torch.equal(value, converted['backbone.' + key]), key
    # the backbone features are the source's: same logits through the source's head
    feats = model.neck(model.backbone(x))[-1]
    head = converted['head.fc.weight'], converted['head.fc.bias']
    assert (nn.functional.linear(feats, *head) - expected).abs().max() <= TOL


def test_backbone_only_and_mmpretrain_meta(tmp_path):
    peer = randomize(mmpretrain_peer('seresnet50', num_classes=7))
    src = str(tmp_path / 'mm.pth')
    torch.save(
        {'state_dict': peer.state_dict(), 'meta': {'dataset_meta': {'classes': list('abcdefg')}}},
        src,
    )
    meta = convert_checkpoint(src, str(tmp_path / 'full.pth'), 'mmpretrain', 'seresnet50')
    assert meta['num_classes'] == 7 and meta['model']['head']['num_classes'] == 7
    assert meta['dataset_meta'] == {'classes': list('abcdefg')}
    dst = str(tmp_path / 'backbone.pth')
    meta = convert_checkpoint(src, dst, 'mmpretrain', 'seresnet50', backbone_only=True)
    keys = list(load_checkpoint_file(dst)['state_dict'])
    assert meta['backbone_only'] and meta['num_classes'] is None
    assert keys and all(k.startswith('backbone.') for k in keys)


def test_ddp_prefix_and_wrapped_state_dict(tmp_path):
    peer = randomize(mmpretrain_peer('seresnet50'))
    src = str(tmp_path / 'ddp.pth')
    sd = {'backbone.' + k: v for k, v in peer.backbone.state_dict().items()}
    torch.save({'state_dict': {'module.' + k: v for k, v in sd.items()}}, src)
    state_dict, meta = read_source(src)
    assert list(state_dict) == list(sd) and meta == {}
    converted, cfg = convert_state_dict(state_dict, 'mmpretrain', 'seresnet50', backbone_only=True)
    assert cfg['head'] is None and len(converted) == len(sd)


# ------------------------------------------------------------------ errors


def test_unknown_arch_and_source():
    with pytest.raises(ConversionError, match=r"unknown --arch 'seresnet9'.*seresnet50"):
        get_arch('timm', 'seresnet9')
    with pytest.raises(ConversionError, match="'seresnext152_32x4d' is a --from mmpretrain"):
        get_arch('timm', 'seresnext152_32x4d')
    with pytest.raises(ConversionError, match=r"--from must be one of timm, mmpretrain; got 'tf'"):
        get_arch('tf', 'seresnet50')
    with pytest.raises(ConversionError, match='--from must be one of'):
        list_archs('torchvision')


@pytest.fixture(scope='module')
def mm_r50():
    """An mmpretrain SE-ResNet-50 state dict and our model's reference state dict."""
    return mmpretrain_peer('seresnet50').state_dict(), build_model('mmpretrain', 'seresnet50')


def test_missing_keys_are_named(mm_r50):
    sd, ours = mm_r50
    sd = dict(sd)
    del sd['backbone.layer2.1.se_layer.conv1.conv.weight'], sd['head.fc.bias']
    with pytest.raises(ConversionError) as err:
        convert_state_dict(sd, 'mmpretrain', 'seresnet50', reference=ours.state_dict())
    msg = str(err.value)
    assert '2 missing key(s)' in msg
    assert 'backbone.layer2.1.se.fc1.weight' in msg and 'head.fc.bias' in msg


def test_misshaped_keys_are_named(mm_r50):
    sd, ours = mm_r50
    sd = dict(sd)
    key = 'backbone.layer3.0.se_layer.conv2.conv.weight'
    sd[key] = torch.zeros(1024, 32, 1, 1)
    with pytest.raises(ConversionError) as err:
        convert_state_dict(sd, 'mmpretrain', 'seresnet50', reference=ours.state_dict())
    msg = str(err.value)
    assert '1 mis-shaped key(s)' in msg
    assert f'backbone.layer3.0.se.fc2.weight (source {key}): (1024, 32, 1, 1)' in msg
    assert 'ours (1024, 64, 1, 1)' in msg


def test_wrong_depth_reports_unexpected_and_missing(mm_r50):
    sd, _ = mm_r50  # an SE-ResNet-50 given as a 101
    with pytest.raises(ConversionError) as err:
        convert_state_dict(sd, 'mmpretrain', 'seresnet101')
    assert 'missing key(s): backbone.layer3.6.' in str(err.value)


def test_unmapped_keys_and_wrong_source_hint(mm_r50):
    sd, _ = mm_r50
    with pytest.raises(ConversionError, match='is it an mmpretrain checkpoint'):
        convert_state_dict(sd, 'timm', 'seresnet50')
    timm_like = {k[len('backbone.') :]: v for k, v in sd.items() if k.startswith('backbone.')}
    with pytest.raises(ConversionError, match='is it a timm state dict'):
        convert_state_dict(timm_like, 'mmpretrain', 'seresnet50')
    extra = dict(sd, **{'backbone.extra.weight': torch.zeros(1)})
    with pytest.raises(ConversionError, match=r'1 unexpected key\(s\): backbone.extra.weight'):
        convert_state_dict(extra, 'mmpretrain', 'seresnet50', reference=mm_r50[1].state_dict())


def test_check_state_dict_lists_are_bounded():
    ref = {f'k{i}': torch.zeros(1) for i in range(20)}
    with pytest.raises(ConversionError, match=r'20 missing key\(s\): k0, .*k7, \.\.\. and 12 more'):
        check_state_dict({}, ref)


def test_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError, match='source checkpoint not found'):
        read_source(str(tmp_path / 'nope.pth'))
    path = str(tmp_path / 'list.pth')
    torch.save([1, 2], path)
    with pytest.raises(ConversionError, match='expected a dict of weights, got list'):
        read_source(path)
    torch.save({'state_dict': {'a': torch.zeros(1), 'b': 3}}, path)
    with pytest.raises(ConversionError, match='these entries are not tensors: b'):
        read_source(path)
    bad = tmp_path / 'bad.safetensors'
    bad.write_bytes(b'not a safetensors file')
    pytest.importorskip('safetensors')
    with pytest.raises(ConversionError, match='cannot read'):
        read_source(str(bad))


def test_output_checks(tmp_path, mm_r50):
    src = str(tmp_path / 'src.pth')
    torch.save(mm_r50[0], src)
    with pytest.raises(ConversionError, match='must not overwrite the source'):
        convert_checkpoint(src, src, 'mmpretrain', 'seresnet50')
    with pytest.raises(FileNotFoundError, match='output folder does not exist'):
        convert_checkpoint(src, str(tmp_path / 'no' / 'dst.pth'), 'mmpretrain', 'seresnet50')
    with pytest.raises(ConversionError, match='unknown --arch'):
        convert_checkpoint(src, str(tmp_path / 'dst.pth'), 'mmpretrain', 'seresnet18')
    assert os.listdir(tmp_path) == ['src.pth']
