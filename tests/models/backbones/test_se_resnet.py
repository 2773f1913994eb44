import pytest
import torch
import torch.nn.functional as F
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


def test_stage_blocks_override_the_depths_counts():
    model = SEResNet(50, stage_blocks=(1, 1, 11, 3), drop_path_rate=0.3, **SMALL)
    assert model.stage_blocks == (1, 1, 11, 3)
    assert [len(getattr(model, f'layer{i}')) for i in range(1, 5)] == [1, 1, 11, 3]
    assert isinstance(model.layer1[0], SEBottleneck)  # the depth still picks the block
    # the drop-path schedule spans the given blocks, ending at the rate
    assert model.layer4[-1].drop_path.drop_prob == pytest.approx(0.3)
    assert SEResNet.arch_settings[50][1] == (3, 4, 6, 3)  # the class table is untouched
    assert SEResNet(50, **SMALL).stage_blocks == (3, 4, 6, 3)
    assert len(SEResNet(18, stage_blocks=(1, 1), num_stages=2, strides=(1, 2), dilations=(1, 1),
                        out_indices=(1,), **SMALL).layer2) == 1  # fmt: skip


def test_defaults_keep_mmpretrains_keys():
    """The options at their defaults change no module: mmpretrain's keys and shapes."""
    for kwargs in (dict(), dict(deep_stem=True, avg_down=True)):
        ours = SEResNet(50, attn_cfg=None, **kwargs).state_dict()
        theirs = ResNet(50, **kwargs).state_dict()
        assert [(k, v.shape) for k, v in ours.items()] == [(k, v.shape) for k, v in theirs.items()]


def test_tiered_deep_stem():
    model = SEResNet(50, deep_stem=True, stem_channels=64, deep_stem_channels=(24, 32, 64))
    convs = [m.conv for m in model.stem]
    assert [(c.in_channels, c.out_channels, c.stride[0]) for c in convs] == [
        (3, 24, 2), (24, 32, 1), (32, 64, 1)
    ]  # fmt: skip
    assert [k for k in model.state_dict() if k.startswith('stem.')] == [
        k for k in ResNet(50, deep_stem=True).state_dict() if k.startswith('stem.')
    ]
    assert model.eval()(torch.rand(1, 3, 64, 64))[0].shape == (1, 2048, 2, 2)


@pytest.mark.parametrize('stem_pool', ['max', 'max_ceil'])
def test_stem_max_pools(stem_pool):
    model = SEResNet(18, stem_pool=stem_pool)
    pool = model.maxpool
    assert isinstance(pool, torch.nn.MaxPool2d) and pool.kernel_size == 3 and pool.stride == 2
    assert (pool.padding, pool.ceil_mode) == ((1, False) if stem_pool == 'max' else (0, True))
    x = torch.randn(1, 8, 16, 16)
    assert pool(x).shape == (1, 8, 8, 8)  # the same size, windows shifted by one pixel
    if stem_pool == 'max_ceil':
        torch.testing.assert_close(pool(x)[..., :7, :7], F.max_pool2d(x, 3, 2))  # no padding


def test_stem_conv_pool_is_part_of_the_stem():
    """ResNet-RS: a 3x3 stride-2 conv-norm-ReLU; frozen with the stem."""
    model = SEResNet(18, stem_pool='conv')
    assert [k for k in model.state_dict() if k.startswith('maxpool.')][:2] == [
        'maxpool.conv.weight', 'maxpool.bn.weight'
    ]  # fmt: skip
    assert model.maxpool.conv.stride == (2, 2)
    assert model.eval()(torch.rand(1, 3, 64, 64))[0].shape == (1, 512, 2, 2)
    frozen = SEResNet(18, stem_pool='conv', frozen_stages=0).train()
    assert not any(p.requires_grad for p in frozen.maxpool.parameters())
    assert not frozen.maxpool.bn.training and frozen.layer1[0].norm1.training


def test_anti_alias_reaches_the_stem_and_the_strided_blocks():
    model = SEResNet(50, deep_stem=True, avg_down=True, anti_alias='avg')
    assert isinstance(model.maxpool, torch.nn.AvgPool2d) and model.maxpool.kernel_size == 2
    strided = [b for layer in model.res_layers for b in getattr(model, layer) if b.stride == 2]
    others = [b for layer in model.res_layers for b in getattr(model, layer) if b.stride == 1]
    assert len(strided) == 3 and all(b.aa is not None and b.conv2.stride == (1, 1) for b in strided)
    assert all(b.aa is None for b in others)
    assert (
        model.state_dict().keys() == SEResNet(50, deep_stem=True, avg_down=True).state_dict().keys()
    )
    # odd sizes: the anti-aliased branch and the avg-down shortcut agree (both ceil mode)
    assert model.eval()(torch.rand(1, 3, 72, 72))[0].shape == (1, 2048, 3, 3)


def test_down_kernel_size_and_reduce_first_reach_the_stages():
    """SENet-154's shape: 3x3 strided shortcuts, first conv of each block at half width."""
    model = SEResNet(50, down_kernel_size=3, reduce_first=2, **SMALL)
    assert model.layer1[0].downsample[0].kernel_size == (1, 1)  # stride 1: 1x1
    assert [getattr(model, f'layer{i}')[0].downsample[0].kernel_size for i in (2, 3, 4)] == [
        (3, 3)
    ] * 3
    assert all(
        b.conv1.out_channels == b.mid_channels // 2
        for layer in model.res_layers
        for b in getattr(model, layer)
    )
    assert model.eval()(torch.rand(1, 3, 32, 32))[0].shape == (1, 512, 4, 4)


@pytest.mark.parametrize(
    'kwargs, error, match',
    [
        (
            dict(stage_blocks=(2, 2, 2)),
            ValueError,
            r'stage_blocks must be a tuple of 4 ints \(one per stage\), got \(2, 2, 2\)',
        ),
        (
            dict(stage_blocks=(2, 0, 2, 2)),
            ValueError,
            r'stage_blocks\[1\] must be an int >= 1, got 0',
        ),
        (dict(stage_blocks=6), TypeError, 'stage_blocks must be a tuple of 4 ints'),
        (
            dict(deep_stem_channels=(24, 32, 64)),
            ValueError,
            r'deep_stem_channels must be None without deep_stem=True .*, got \(24, 32, 64\)',
        ),
        (
            dict(deep_stem=True, deep_stem_channels=(24, 64)),
            ValueError,
            r'deep_stem_channels must be a tuple of 3 ints \(one per stem conv\)',
        ),
        (
            dict(deep_stem=True, deep_stem_channels=(24, 32, 48)),
            ValueError,
            r'deep_stem_channels must be 3 ints ending with stem_channels=64 .*, got \(24, 32, 48',
        ),
        (dict(stem_pool='avg'), ValueError, "stem_pool must be one of 'max', 'max_ceil', 'conv'"),
        (
            dict(stem_pool='conv', stem_type='cifar'),
            ValueError,
            "stem_pool must be 'max' with stem_type='cifar' .*, got 'conv'",
        ),
        (
            dict(anti_alias='blur'),
            ValueError,
            "anti_alias must be one of None, 'avg', got 'blur'",
        ),
        (
            dict(anti_alias='avg', stem_pool='conv'),
            ValueError,
            "stem_pool must be 'max' with anti_alias .*, got 'conv'",
        ),
        (dict(down_kernel_size=2), ValueError, 'down_kernel_size must be an odd int >= 1'),
        (
            dict(down_kernel_size=3, avg_down=True),
            ValueError,
            'down_kernel_size must be 1 with avg_down=True .*, got 3',
        ),
        (dict(reduce_first=0), ValueError, 'reduce_first must be an int >= 1, got 0'),
    ],
)
def test_option_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        SEResNet(50, **kwargs)
