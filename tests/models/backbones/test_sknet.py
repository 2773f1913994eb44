"""Tests of se_plugin.models.backbones.sknet (SKBlock, SKNet)."""

import pytest
import torch
import torch.nn as nn
from mmcv.cnn.bricks import DropPath
from mmpretrain.registry import MODELS as MMPRETRAIN_MODELS

from se_plugin.models import (
    SEBasicBlock,
    SEBottleneck,
    SELayer,
    SEResNet,
    SKBasicBlock,
    SKBlock,
    SKConv,
    SKNet,
)

# narrow widths so the whole backbone runs on 32 px in milliseconds
SMALL = dict(
    stem_type='cifar', stem_channels=16, base_channels=16, groups=4, width_per_group=4,
    min_channels=8,
)  # fmt: skip


def classifier(**backbone):
    return MMPRETRAIN_MODELS.build(
        dict(
            type='ImageClassifier',
            backbone=dict(type='se_plugin.SKNet', **backbone),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(type='LinearClsHead', num_classes=1000, in_channels=2048),
        )
    )


def num_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(
    'depth, blocks', [(26, (2, 2, 2, 2)), (50, (3, 4, 6, 3)), (101, (3, 4, 23, 3))]
)
def test_output_shapes_for_each_depth(depth, blocks):
    model = SKNet(depth, out_indices=(0, 1, 2, 3), **SMALL)
    model.eval()
    outs = model(torch.rand(1, 3, 32, 32))
    assert [tuple(o.shape) for o in outs] == [
        (1, 64, 32, 32), (1, 128, 16, 16), (1, 256, 8, 8), (1, 512, 4, 4)
    ]  # fmt: skip
    assert tuple(len(getattr(model, f'layer{i + 1}')) for i in range(4)) == blocks
    assert all(isinstance(b, SKBlock) for b in model.modules() if isinstance(b, SEBottleneck))


def test_resnext_50_32x4d_widths():
    model = SKNet(50)
    assert isinstance(model, SEResNet)
    mids = [getattr(model, f'layer{i}')[0].mid_channels for i in range(1, 5)]
    outs = [getattr(model, f'layer{i}')[0].out_channels for i in range(1, 5)]
    assert mids == [128, 256, 512, 1024]
    assert outs == [256, 512, 1024, 2048]
    sk = [getattr(model, f'layer{i}')[0].conv2 for i in range(1, 5)]
    assert [c.fuse_channels for c in sk] == [32, 32, 32, 64]  # max(C / 16, 32)
    assert all(c.groups == 32 and c.num_paths == 2 for c in sk)
    assert model.layer2[0].conv2.paths[0].conv.stride == (2, 2)  # stride in the 3x3 (pytorch)
    model.eval()
    assert model(torch.rand(1, 3, 32, 32))[0].shape == (1, 2048, 1, 1)


def test_sknet50_parameter_count_matches_the_paper():
    model = classifier(depth=50)
    assert num_params(model) == pytest.approx(27.5e6, rel=0.005)  # SKNet paper Table 2
    # with one path the SK conv is the ResNeXt 3x3: SKNet-50 (M=1) is ResNeXt-50
    resnext = MMPRETRAIN_MODELS.build(
        dict(
            type='ImageClassifier',
            backbone=dict(type='ResNeXt', depth=50),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(type='LinearClsHead', num_classes=1000, in_channels=2048),
        )
    )
    assert num_params(classifier(depth=50, num_paths=1)) == num_params(resnext)


def test_block_swaps_only_the_3x3_stage():
    block = SKBlock(64, 64, groups=4, width_per_group=4, base_channels=16, min_channels=8)
    assert isinstance(block, SEBottleneck)
    assert isinstance(block.conv2, SKConv)
    assert block.conv2.in_channels == block.conv2.out_channels == block.mid_channels == 16
    assert not hasattr(block, 'norm2')
    assert block.norm2_name not in dict(block.named_children())
    assert not any(name.startswith(block.norm2_name) for name, _ in block.named_parameters())
    assert block.attn is None
    assert 'forward' not in SKBlock.__dict__  # the residual logic is the shared one


def test_every_parameter_gets_a_gradient():
    # an unused parameter (such as a leftover norm2) breaks DDP
    model = SKNet(26, **SMALL)
    x = torch.rand(2, 3, 32, 32)
    model(x)[0].sum().backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None]
    assert missing == []


def test_drop_path_is_active_in_training_only():
    torch.manual_seed(0)
    block = SKBlock(
        32, 32, groups=4, width_per_group=4, base_channels=8, min_channels=8, drop_path_rate=0.5
    )
    assert isinstance(block.drop_path, DropPath)
    x = torch.rand(2, 32, 6, 6)
    block.train()
    for module in block.modules():  # keep BN deterministic: only drop path differs
        if isinstance(module, nn.BatchNorm2d):
            module.eval()
    outs = [block(x) for _ in range(6)]
    block.eval()
    ref = block(x)
    assert not all(torch.allclose(out, ref) for out in outs)
    torch.testing.assert_close(block(x), ref)


def test_drop_path_rate_reaches_the_blocks():
    model = SKNet(26, drop_path_rate=0.2, **SMALL)
    assert isinstance(model.layer4[-1].drop_path, DropPath)
    assert model.layer4[-1].drop_path.drop_prob == pytest.approx(0.2)


def test_with_cp_gives_the_same_output_and_gradients():
    torch.manual_seed(0)
    kwargs = dict(
        groups=4, width_per_group=4, base_channels=8, min_channels=8, attn_cfg=dict(type='SELayer')
    )
    plain = SKBlock(32, 32, **kwargs)
    ckpt = SKBlock(32, 32, with_cp=True, **kwargs)
    ckpt.load_state_dict(plain.state_dict())
    x1 = torch.rand(2, 32, 6, 6, requires_grad=True)
    x2 = x1.detach().clone().requires_grad_()
    out1, out2 = plain(x1), ckpt(x2)
    torch.testing.assert_close(out1, out2)
    out1.square().sum().backward()
    out2.square().sum().backward()
    torch.testing.assert_close(x1.grad, x2.grad)
    grads = {n: p.grad for n, p in plain.named_parameters()}
    for name, param in ckpt.named_parameters():
        torch.testing.assert_close(param.grad, grads[name], msg=name)
    assert ckpt.conv2.select.weight.grad.abs().sum() > 0


@pytest.mark.parametrize(
    'position, channels', [('standard', 64), ('after_conv2', 16), ('pre', 64), ('identity', 64)]
)
def test_se_on_top_of_sk(position, channels):
    model = SKNet(
        26, attn_cfg=dict(type='se_plugin.SELayer', ratio=4), attn_position=position, **SMALL
    )
    block = model.layer1[1]  # 64 -> 64 channels, SK width 16
    assert isinstance(block.conv2, SKConv)
    assert isinstance(block.attn, SELayer) and block.attn.in_channels == channels
    calls = []
    block.attn.register_forward_hook(lambda *_: calls.append(1))
    model.eval()
    assert model(torch.rand(1, 3, 32, 32))[0].shape == (1, 512, 4, 4)
    assert calls == [1]


def test_plain_sknet_has_no_se_and_se_stages_select():
    assert all(m.attn is None for m in SKNet(26, **SMALL).modules() if isinstance(m, SKBlock))
    model = SKNet(
        26, attn_cfg=dict(type='SELayer'), attn_stages=(False, False, True, True), **SMALL
    )
    assert [getattr(model, f'layer{i}')[0].attn is None for i in range(1, 5)] == [
        True, True, False, False
    ]  # fmt: skip


@pytest.mark.parametrize('num_paths', [1, 2, 3])
def test_sk_arguments_reach_every_block(num_paths):
    model = SKNet(26, num_paths=num_paths, sk_ratio=2, **SMALL)
    convs = [m for m in model.modules() if isinstance(m, SKConv)]
    assert len(convs) == 8
    assert all(len(c.paths) == num_paths and c.ratio == 2 for c in convs)
    assert [c.fuse_channels for c in convs[::2]] == [8, 16, 32, 64]  # max(C / 2, 8)


def test_registry_resolution_from_the_mmpretrain_scope():
    model = MMPRETRAIN_MODELS.build(dict(type='se_plugin.SKNet', depth=26, **SMALL))
    assert type(model) is SKNet
    block = MMPRETRAIN_MODELS.build(
        dict(
            type='se_plugin.SKBlock',
            in_channels=64,
            out_channels=64,
            groups=4,
            base_channels=16,
            min_channels=8,
        )
    )
    assert type(block) is SKBlock


def test_frozen_stages_and_norm_eval():
    model = SKNet(26, frozen_stages=2, norm_eval=True, **SMALL)
    model.train()
    for name, param in model.named_parameters():
        frozen = name.startswith(('conv1', 'bn1', 'layer1', 'layer2'))
        assert param.requires_grad != frozen, name
    assert all(not m.training for m in model.modules() if isinstance(m, nn.BatchNorm2d))


def test_zero_init_residual_and_init_weights():
    model = SKNet(26, zero_init_residual=True, **SMALL)
    model.init_weights()
    for block in model.modules():
        if isinstance(block, SKBlock):
            assert block.norm3.weight.abs().sum() == 0


def test_dilated_stages_and_caffe_style():
    model = SKNet(26, strides=(1, 2, 1, 1), dilations=(1, 1, 2, 4), out_indices=(3,), **SMALL)
    assert [p.conv.dilation[0] for p in model.layer4[0].conv2.paths] == [4, 8]
    model.eval()
    assert model(torch.rand(1, 3, 32, 32))[0].shape == (1, 512, 16, 16)
    caffe = SKNet(26, style='caffe', **SMALL)
    assert caffe.layer2[0].conv2.paths[0].conv.stride == (1, 1)
    assert caffe.layer2[0].conv1.stride == (2, 2)


@pytest.mark.parametrize(
    'kwargs, error, match',
    [
        (dict(depth=152), ValueError, r'depth must be one of 18, 34, 26, 50, 101, got 152'),
        (dict(depth=19), ValueError, r'depth must be one of 18, 34, 26, 50, 101'),
        (dict(num_paths=0), ValueError, r'num_paths must be an int >= 1, got 0'),
        (dict(num_paths='2'), TypeError, r'num_paths must be an int'),
        (dict(sk_ratio=0), ValueError, r'sk_ratio must be a finite number > 0, got 0'),
        (dict(min_channels=0), ValueError, r'min_channels must be an int >= 1'),
        (dict(groups=0), ValueError, r'groups must be an int >= 1'),
        (dict(attn_cfg='SELayer'), TypeError, r"attn_cfg must be a dict with a 'type' key"),
        (dict(attn_position='middle'), ValueError, r"attn_position must be one of .*'after_conv2'"),
        (dict(stem_type='tiny'), ValueError, r"stem_type must be one of 'imagenet', 'cifar'"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    args = dict(depth=26)
    args.update(kwargs)
    with pytest.raises(error, match=match):
        SKNet(**args)


@pytest.mark.parametrize(
    'kwargs, error, match',
    [
        (dict(num_paths=-1), ValueError, r'num_paths must be an int >= 1'),
        (dict(sk_ratio='16'), TypeError, r'sk_ratio must be a finite number'),
        (dict(min_channels=None), TypeError, r'min_channels must be an int'),
    ],
)
def test_block_bad_arguments(kwargs, error, match):
    args = dict(in_channels=64, out_channels=64, groups=4, width_per_group=4, base_channels=16)
    args.update(kwargs)
    with pytest.raises(error, match=match):
        SKBlock(**args)


def sk_basic(**kwargs):
    args = dict(sk_ratio=8, min_channels=4, split_input=True)
    args.update(kwargs)
    return SKBasicBlock(16, 16, **args)


def test_sk_basic_block_swaps_only_the_first_3x3_stage():
    block = sk_basic()
    assert isinstance(block, SEBasicBlock) and isinstance(block.conv1, SKConv)
    assert [p.conv.in_channels for p in block.conv1.paths] == [8, 8]  # split_input
    assert block.conv1.groups == 1 and block.conv2.in_channels == 16
    assert not hasattr(block, 'norm1')
    assert not any(name.startswith('bn1') for name, _ in block.named_parameters())
    assert 'forward' not in SKBasicBlock.__dict__  # the residual logic is the shared one
    block.eval()
    x = torch.rand(2, 16, 6, 6)
    with torch.no_grad():
        expected = torch.relu(block.norm2(block.conv2(block.conv1(x))) + x)
        torch.testing.assert_close(block(x), expected)


@pytest.mark.parametrize('position', ['standard', 'pre', 'post', 'identity'])
def test_sk_basic_block_attention_positions(position):
    block = sk_basic(attn_cfg=dict(type='se_plugin.SELayer', ratio=4), attn_position=position)
    calls = []
    block.attn.register_forward_hook(lambda *_: calls.append(1))
    assert block.eval()(torch.rand(2, 16, 6, 6)).shape == (2, 16, 6, 6) and calls == [1]


def test_sk_basic_block_with_cp_and_drop_path():
    torch.manual_seed(0)
    plain, ckpt = sk_basic(), sk_basic(with_cp=True)
    ckpt.load_state_dict(plain.state_dict())
    x1 = torch.rand(2, 16, 6, 6, requires_grad=True)
    x2 = x1.detach().clone().requires_grad_()
    plain(x1).square().sum().backward()
    ckpt(x2).square().sum().backward()
    torch.testing.assert_close(x1.grad, x2.grad)
    for (name, p1), p2 in zip(plain.named_parameters(), ckpt.parameters()):
        torch.testing.assert_close(p1.grad, p2.grad, msg=name)
    dropped = sk_basic(drop_path_rate=0.5)
    assert isinstance(dropped.drop_path, DropPath) and dropped.drop_path.drop_prob == 0.5


@pytest.mark.parametrize('depth, blocks', [(18, (2, 2, 2, 2)), (34, (3, 4, 6, 3))])
def test_basic_depths(depth, blocks):
    """timm's skresnet18/34: SK in basic blocks, groups 1 by default."""
    model = SKNet(depth, sk_ratio=8, min_channels=16, split_input=True, out_indices=(0, 3))
    assert tuple(len(getattr(model, f'layer{i}')) for i in range(1, 5)) == blocks
    first = model.layer2[0]
    assert isinstance(first, SKBasicBlock) and first.conv1.groups == 1
    assert first.conv1.paths[0].conv.stride == (2, 2)
    assert [getattr(model, f'layer{i}')[0].conv1.fuse_channels for i in range(1, 5)] == [
        16, 16, 32, 64
    ]  # fmt: skip
    outs = model.eval()(torch.rand(1, 3, 64, 64))
    assert [tuple(o.shape) for o in outs] == [(1, 64, 16, 16), (1, 512, 2, 2)]


def test_split_input_and_groups_reach_the_bottlenecks():
    """timm's skresnet50: ResNet widths (groups 1), each path reads half the input."""
    model = SKNet(50, groups=1, sk_ratio=16, min_channels=8, split_input=True)
    conv = model.layer2[0].conv2
    assert (conv.in_channels, conv.groups, conv.paths[0].conv.in_channels) == (128, 1, 64)
    assert SKNet(50).layer1[0].conv2.split_input is False


@pytest.mark.parametrize(
    'build', [lambda: SKNet(26, anti_alias='avg', **SMALL), lambda: sk_basic(anti_alias='avg')]
)
def test_anti_alias_is_refused(build):
    with pytest.raises(
        ValueError, match=r"anti_alias must be None in SK(Block|BasicBlock) .*, got 'avg'"
    ):
        build()
