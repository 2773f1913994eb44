import pytest
import torch
from helpers import classifier, num_params
from mmpretrain.models.backbones.resnet import ResNet

from se_plugin.models import SEBasicBlock, SEBottleneck, SELayer, SEResNet
from se_plugin.registry import MODELS

SMALL = dict(stem_channels=16, base_channels=16, stem_type='cifar')


def se_layers(model):
    return [m for m in model.modules() if isinstance(m, SELayer)]


def test_golden_params_se_resnet50():
    """SENet: 28.1M; timm seresnet50 and mmpretrain SEResNet-50: 28,088,024."""
    model = MODELS.build(classifier(dict(type='se_plugin.SEResNet', depth=50), 2048))
    assert num_params(model) == 28_088_024


def test_golden_params_resnet50_with_empty_slot():
    """torchvision / mmpretrain ResNet-50: 25,557,032."""
    model = MODELS.build(classifier(dict(type='se_plugin.SEResNet', depth=50, attn_cfg=None), 2048))
    assert num_params(model) == 25_557_032


@pytest.mark.parametrize('ratio, paper_millions', [(2, 45.7), (4, 35.7), (8, 30.7), (32, 26.9)])
def test_ratio_sweep_matches_senet_table10(ratio, paper_millions):
    backbone = dict(type='se_plugin.SEResNet', depth=50, attn_cfg=dict(type='SELayer', ratio=ratio))
    params = num_params(MODELS.build(classifier(backbone, 2048)))
    assert abs(params / 1e6 - paper_millions) / paper_millions < 0.005


@pytest.mark.parametrize(
    'depth, block, widths',
    [
        (18, SEBasicBlock, (16, 32, 64, 128)),
        (34, SEBasicBlock, (16, 32, 64, 128)),
        (50, SEBottleneck, (64, 128, 256, 512)),
        (101, SEBottleneck, (64, 128, 256, 512)),
        (152, SEBottleneck, (64, 128, 256, 512)),
    ],
)
def test_depths_shapes(depth, block, widths):
    model = SEResNet(depth, out_indices=(0, 1, 2, 3), **SMALL).eval()
    assert isinstance(model.layer1[0], block)
    outs = model(torch.rand(1, 3, 32, 32))
    assert [o.shape[1] for o in outs] == list(widths)
    assert [o.shape[-1] for o in outs] == [32, 16, 8, 4]
    assert len(se_layers(model)) == sum(model.stage_blocks)


def test_imagenet_stem_shapes():
    model = SEResNet(18, out_indices=(0, 3)).eval()
    outs = model(torch.rand(1, 3, 64, 64))
    assert [tuple(o.shape) for o in outs] == [(1, 64, 16, 16), (1, 512, 2, 2)]


@pytest.mark.parametrize(
    'stages', [(False, True, True, True), (True, False, False, False), (False, False, False, False)]
)
def test_se_stages(stages):
    model = SEResNet(18, attn_stages=stages, **SMALL)
    for stage, on in enumerate(stages):
        layer = getattr(model, f'layer{stage + 1}')
        assert all((block.attn is not None) == on for block in layer)


def test_se_stages_follow_num_stages():
    model = SEResNet(
        18,
        num_stages=2,
        strides=(1, 2),
        dilations=(1, 1),
        out_indices=(1,),
        attn_stages=(False, True),
        **SMALL,
    )
    assert model.layer1[0].attn is None and model.layer2[0].attn is not None


@pytest.mark.parametrize('position', ['pre', 'post', 'identity', 'after_conv2'])
def test_position_reaches_every_block(position):
    model = SEResNet(50, attn_position=position, **SMALL)
    assert {b.attn_position for layer in model.res_layers for b in getattr(model, layer)} == {
        position
    }
    model.eval()
    assert model(torch.rand(1, 3, 32, 32))[0].shape == (1, 512, 4, 4)


def test_se_cfg_reaches_layers():
    model = SEResNet(
        50,
        attn_cfg=dict(
            type='SELayer', ratio=8, squeeze='max', act_cfg=(dict(type='ReLU'), dict(type='Tanh'))
        ),
        **SMALL,
    )
    layer = model.layer4[0].attn
    assert layer.squeeze == 'max' and layer.squeeze_channels == 2048 // 8 // 4
    assert isinstance(layer.gate, torch.nn.Tanh)


def test_no_se_is_plain_resnet():
    ours = SEResNet(50, attn_cfg=None)
    theirs = ResNet(50)
    assert not se_layers(ours)
    assert num_params(ours) == num_params(theirs)
    assert ours.state_dict().keys() == theirs.state_dict().keys()


def test_drop_path_rate_reaches_blocks():
    model = SEResNet(50, drop_path_rate=0.2, **SMALL)
    rates = [b.drop_path.drop_prob for layer in model.res_layers[1:] for b in getattr(model, layer)]
    assert rates[-1] == pytest.approx(0.2)


def test_frozen_stages_and_norm_eval():
    model = SEResNet(18, frozen_stages=1, norm_eval=True, **SMALL)
    model.train()
    assert not any(p.requires_grad for p in model.layer1.parameters())
    assert all(p.requires_grad for p in model.layer2.parameters())
    assert not model.layer3[0].norm1.training


def test_zero_init_residual():
    model = SEResNet(50, **SMALL)
    model.init_weights()
    assert torch.all(model.layer1[0].norm3.weight == 0)


def test_channels_last_and_backward():
    model = SEResNet(18, **SMALL).train()
    x = torch.rand(2, 3, 32, 32).to(memory_format=torch.channels_last)
    model(x)[0].mean().backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


@pytest.mark.parametrize(
    'kwargs, error, match',
    [
        (dict(depth=42), ValueError, 'depth must be one of 18, 34, 50, 101, 152'),
        (dict(depth=50, attn_position='middle'), ValueError, 'attn_position must be one of'),
        (dict(depth=18, attn_position='after_conv2'), ValueError, 'attn_position must be one of'),
        (
            dict(depth=50, attn_stages=(True, True)),
            ValueError,
            'attn_stages must be a tuple of 4 bools',
        ),
        (
            dict(depth=50, attn_stages=(1, 1, 1, 1)),
            TypeError,
            'attn_stages must be a tuple of 4 bools',
        ),
        (
            dict(depth=50, stem_type='tiny'),
            ValueError,
            "stem_type must be one of 'imagenet', 'cifar'",
        ),
        (dict(depth=50, out_indices=(4,)), ValueError, r'out_indices must be .* in \[-4, 3\]'),
        (dict(depth=50, num_stages=5), ValueError, r'num_stages must be an int in \[1, 4\], got 5'),
        (dict(depth=50, style='keras'), ValueError, 'style must be one of'),
        (
            dict(depth=50, attn_cfg=dict(type='SELayer', ratio=0)),
            ValueError,
            'ratio must be a finite number > 0',
        ),
        (dict(depth=50, attn_cfg='SELayer'), TypeError, 'attn_cfg must be a dict'),
        (dict(depth=50, deep_stem=True, stem_type='cifar'), ValueError, 'deep_stem'),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        SEResNet(**kwargs)


def test_unknown_attention_type_names_it():
    with pytest.raises(KeyError, match='SELayr'):
        SEResNet(18, attn_cfg=dict(type='SELayr'), **SMALL)


def test_negative_out_indices_count_from_the_end():
    model = SEResNet(18, out_indices=(-1, -3), **SMALL)
    assert sorted(model.out_indices) == [1, 3]
    with pytest.raises(ValueError, match=r'stage indices in \[-4, 3\]'):
        SEResNet(18, out_indices=(-5,), **SMALL)


def test_a_bad_depth_is_a_value_error_and_a_key_error():
    for error in (ValueError, KeyError):
        with pytest.raises(error, match='depth must be one of 18, 34, 50, 101, 152'):
            SEResNet(42)
