import pytest
import torch
import torch.nn.functional as F
from mmpretrain.models.backbones.resnet import BasicBlock, Bottleneck
from mmpretrain.models.backbones.resnext import Bottleneck as ResNeXtBottleneck

from se_plugin.models import ATTN_POSITIONS, SEBasicBlock, SEBottleneck
from se_plugin.models.layers import AttentionModule
from se_plugin.registry import MODELS

SE = dict(type='se_plugin.SELayer', ratio=4, divisor=1)


def make_bottleneck(**kwargs):
    kwargs.setdefault('attn_cfg', SE)
    in_channels = kwargs.pop('in_channels', 32)
    out_channels = kwargs.pop('out_channels', 32)
    stride = kwargs.pop('stride', 1)
    downsample = None
    if stride != 1 or in_channels != out_channels:
        downsample = torch.nn.Sequential(
            torch.nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
            torch.nn.BatchNorm2d(out_channels),
        )
    block = SEBottleneck(in_channels, out_channels, stride=stride, downsample=downsample, **kwargs)
    randomize_norms(block)
    return block.eval()


def randomize_norms(module):
    """Non-trivial BN statistics and affine params (zero-init would hide bugs)."""
    for m in module.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.5, 0.5)


def reference_bottleneck(block, x):
    """SENet Fig. 5 / Table 15, written out by hand for one position."""
    pos, se = block.attn_position, block.attn
    identity = x if block.downsample is None else block.downsample(x)
    branch_in = se(x) if pos == 'pre' else x
    out = F.relu(block.norm1(block.conv1(branch_in)))
    out = F.relu(block.norm2(block.conv2(out)))
    if pos == 'after_conv2':
        out = se(out)
    out = block.norm3(block.conv3(out))
    if pos == 'standard':
        out = se(out)
    if pos == 'identity':
        identity = se(identity)
    out = F.relu(out + identity)
    return se(out) if pos == 'post' else out


@pytest.mark.parametrize('position', ATTN_POSITIONS)
@pytest.mark.parametrize('in_channels, out_channels, stride', [(32, 32, 1), (16, 64, 2)])
def test_bottleneck_positions_match_reference(position, in_channels, out_channels, stride):
    torch.manual_seed(0)
    block = make_bottleneck(
        in_channels=in_channels, out_channels=out_channels, stride=stride, attn_position=position
    )
    x = torch.randn(2, in_channels, 8, 8)
    expected_channels = {
        'pre': in_channels,
        'after_conv2': block.mid_channels,
    }.get(position, out_channels)
    assert block.attn.in_channels == expected_channels
    with torch.no_grad():
        torch.testing.assert_close(block(x), reference_bottleneck(block, x))


@pytest.mark.parametrize('position', ['standard', 'pre', 'post', 'identity'])
def test_basic_block_positions(position):
    torch.manual_seed(0)
    block = SEBasicBlock(16, 16, attn_cfg=SE, attn_position=position).eval()
    randomize_norms(block)
    x = torch.randn(2, 16, 6, 6)
    se = block.attn
    branch_in = se(x) if position == 'pre' else x
    out = block.norm2(block.conv2(F.relu(block.norm1(block.conv1(branch_in)))))
    out = se(out) if position == 'standard' else out
    identity = se(x) if position == 'identity' else x
    expected = F.relu(out + identity)
    expected = se(expected) if position == 'post' else expected
    with torch.no_grad():
        torch.testing.assert_close(block(x), expected)


def test_basic_block_refuses_after_conv2():
    with pytest.raises(ValueError, match="attn_position must be one of 'standard', 'pre'"):
        SEBasicBlock(16, 16, attn_position='after_conv2')


@pytest.mark.parametrize(
    'position, error',
    [('before', ValueError), ('Standard', ValueError), (None, TypeError), (3, TypeError)],
)
def test_unknown_position(position, error):
    with pytest.raises(error, match='attn_position must be one of'):
        SEBottleneck(32, 32, attn_position=position)


@pytest.mark.parametrize('attn_cfg', ['SELayer', dict(ratio=4), 16])
def test_bad_se_cfg(attn_cfg):
    with pytest.raises(TypeError, match="attn_cfg must be a dict with a 'type' key"):
        SEBottleneck(32, 32, attn_cfg=attn_cfg)


@pytest.mark.parametrize(
    'ours, theirs, kwargs',
    [
        (SEBottleneck, Bottleneck, dict(in_channels=64, out_channels=64)),
        (SEBasicBlock, BasicBlock, dict(in_channels=16, out_channels=16)),
    ],
)
def test_empty_slot_equals_mmpretrain_block(ours, theirs, kwargs):
    torch.manual_seed(0)
    block = ours(attn_cfg=None, **kwargs).eval()
    randomize_norms(block)
    plain = theirs(**kwargs).eval()
    plain.load_state_dict(block.state_dict())
    assert block.attn is None
    x = torch.randn(2, kwargs['in_channels'], 6, 6)
    with torch.no_grad():
        torch.testing.assert_close(block(x), plain(x))


@pytest.mark.parametrize('position', ATTN_POSITIONS)
def test_drop_path_is_applied(position):
    """mmpretrain's SEBottleneck copies forward and loses drop_path: ours must not."""
    torch.manual_seed(0)
    block = make_bottleneck(attn_position=position, drop_path_rate=0.5).train()
    x = torch.randn(64, 32, 4, 4)
    with torch.no_grad():
        out = block(x)
        block.eval()
        deterministic = block(x)
    identity_path = x if position != 'post' else None
    same_as_eval = torch.isclose(out, deterministic).flatten(1).all(1)
    # some samples keep the branch (rescaled), some drop it: never all equal
    assert not same_as_eval.all()
    if identity_path is not None and position == 'standard':
        dropped = torch.isclose(out, F.relu(x)).flatten(1).all(1)
        assert 0 < dropped.sum() < 64


@pytest.mark.parametrize('position', ATTN_POSITIONS)
def test_with_cp_gives_same_gradients(position):
    torch.manual_seed(0)
    block = make_bottleneck(attn_position=position).train()
    cp_block = make_bottleneck(attn_position=position, with_cp=True).train()
    cp_block.load_state_dict(block.state_dict())
    x = torch.randn(2, 32, 6, 6, requires_grad=True)
    x_cp = x.detach().clone().requires_grad_()
    block(x).square().sum().backward()
    cp_block(x_cp).square().sum().backward()
    torch.testing.assert_close(x.grad, x_cp.grad)
    for (name, p), p_cp in zip(block.named_parameters(), cp_block.parameters()):
        torch.testing.assert_close(p.grad, p_cp.grad, msg=name)


def test_grouped_bottleneck_width():
    block = SEBottleneck(256, 256, groups=32, width_per_group=4)
    assert block.mid_channels == 128 and block.conv2.groups == 32
    assert SEBottleneck(256, 256).mid_channels == 64


@MODELS.register_module(name='TestChannelScale', force=True)
class ChannelScale(torch.nn.Module):
    """Any shape-keeping module with ``in_channels`` fits the slot."""

    def __init__(self, in_channels):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.full((1, in_channels, 1, 1), 2.0))

    def forward(self, x):
        return x * self.scale


def test_any_registered_module_fits_the_slot():
    block = make_bottleneck(attn_cfg=dict(type='TestChannelScale'), attn_position='after_conv2')
    assert isinstance(block.attn, ChannelScale) and block.attn.scale.shape[1] == block.mid_channels
    x = torch.randn(1, 32, 5, 5)
    with torch.no_grad():
        torch.testing.assert_close(block(x), reference_bottleneck(block, x))


@MODELS.register_module(name='TestScaleTakingNorm', force=True)
class ScaleTakingNorm(AttentionModule):
    """A slot module that takes the block's norm and shortcut: ``(z, norm, residual)``."""

    calls = 0

    def __init__(self, in_channels):
        super().__init__(in_channels)
        self.scale = torch.nn.Parameter(torch.full((1, in_channels, 1, 1), 2.0))

    def forward(self, x):
        return x * self.scale

    def forward_after_norm(self, z, norm, residual=None):
        ScaleTakingNorm.calls += 1
        return super().forward_after_norm(z, norm, residual)


@MODELS.register_module(name='TestDuckTakingNorm', force=True)
class DuckTakingNorm(ChannelScale):
    """Not an AttentionModule: a method of the same name is not the contract."""

    def forward_after_norm(self, z, norm, residual=None):
        raise AssertionError('a block must call a plain module plainly')


def test_a_module_taking_the_norm_and_the_shortcut():
    block = make_bottleneck(attn_cfg=dict(type='TestScaleTakingNorm'))
    plain = make_bottleneck(attn_cfg=dict(type='TestChannelScale'))
    duck = make_bottleneck(attn_cfg=dict(type='TestDuckTakingNorm'))
    plain.load_state_dict(block.state_dict())
    duck.load_state_dict(block.state_dict())
    calls = ScaleTakingNorm.calls
    x = torch.randn(2, 32, 5, 5)
    torch.testing.assert_close(block(x), plain(x))
    torch.testing.assert_close(duck(x), plain(x))
    assert ScaleTakingNorm.calls == calls + 1  # at the standard position, once per forward
    other = make_bottleneck(attn_cfg=dict(type='TestScaleTakingNorm'), attn_position='post')
    other(x)
    assert ScaleTakingNorm.calls == calls + 1  # elsewhere the module is called on a tensor


@pytest.mark.parametrize(
    'kwargs',
    [
        dict(),
        dict(groups=4, width_per_group=4, base_channels=16),
        dict(stride=2, style='caffe', dilation=2, norm_cfg=dict(type='GN', num_groups=4)),
        dict(drop_path_rate=0.1, with_cp=True, act_cfg=dict(type='GELU')),
    ],
    ids=['resnet', 'resnext', 'caffe-dilated-gn', 'drop-path-cp-gelu'],
)
def test_bottleneck_has_mmpretrains_modules_names_and_attributes(kwargs):
    """SEBottleneck builds its layers itself (the 3x3 stage via _make_conv2), as mmpretrain does."""
    downsample = torch.nn.Conv2d(64, 64, 1, kwargs.get('stride', 1)) if 'stride' in kwargs else None
    ours = SEBottleneck(64, 64, attn_cfg=None, downsample=downsample, **kwargs)
    theirs = ResNeXtBottleneck(64, 64, downsample=downsample, **dict(dict(groups=1), **kwargs))
    assert [(n, type(m)) for n, m in ours.named_children()] == [
        (n, type(m)) for n, m in theirs.named_children()
    ]
    assert {k: v.shape for k, v in ours.state_dict().items()} == {
        k: v.shape for k, v in theirs.state_dict().items()
    }
    for name in (
        'mid_channels',
        'conv1_stride',
        'conv2_stride',
        'norm1_name',
        'norm2_name',
        'norm3_name',
        'style',
        'dilation',
        'with_cp',
        'groups',
        'width_per_group',
    ):
        assert getattr(ours, name) == getattr(theirs, name), name
    assert repr(ours.conv2) == repr(theirs.conv2) and repr(ours.relu) == repr(theirs.relu)


@pytest.mark.parametrize(
    'kwargs',
    [
        dict(),
        dict(stride=2, dilation=2, norm_cfg=dict(type='GN', num_groups=4)),
        dict(drop_path_rate=0.1, with_cp=True, act_cfg=dict(type='GELU')),
    ],
    ids=['resnet', 'dilated-gn', 'drop-path-cp-gelu'],
)
def test_basic_block_has_mmpretrains_modules_names_and_attributes(kwargs):
    """SEBasicBlock builds its layers itself (conv1 via _make_conv1), as mmpretrain does."""
    downsample = torch.nn.Conv2d(16, 16, 1, kwargs.get('stride', 1))
    ours = SEBasicBlock(16, 16, attn_cfg=None, downsample=downsample, **kwargs)
    theirs = BasicBlock(16, 16, downsample=downsample, **kwargs)
    assert [(n, type(m)) for n, m in ours.named_children()] == [
        (n, type(m)) for n, m in theirs.named_children()
    ]
    assert {k: v.shape for k, v in ours.state_dict().items()} == {
        k: v.shape for k, v in theirs.state_dict().items()
    }
    for name in ('mid_channels', 'norm1_name', 'norm2_name', 'stride', 'dilation', 'with_cp'):
        assert getattr(ours, name) == getattr(theirs, name), name
    assert repr(ours.conv1) == repr(theirs.conv1) and repr(ours.conv2) == repr(theirs.conv2)
    assert ours.first_channels == ours.mid_channels and ours.aa is None


def test_reduce_first_narrows_the_first_conv():
    """timm's block_reduce_first (SENet-154: 2): conv1 at width / 2, conv2 back to width."""
    block = make_bottleneck(
        in_channels=64, out_channels=64, groups=4, width_per_group=8, base_channels=16,
        reduce_first=2, attn_position='after_conv2',
    )  # fmt: skip
    assert (block.mid_channels, block.first_channels) == (32, 16)
    assert block.conv1.out_channels == block.norm1.num_features == block.conv2.in_channels == 16
    assert block.conv2.out_channels == block.attn.in_channels == 32
    x = torch.randn(2, 64, 6, 6)
    with torch.no_grad():
        torch.testing.assert_close(block(x), reference_bottleneck(block, x))
    basic = SEBasicBlock(16, 16, reduce_first=4).eval()
    assert basic.conv1.out_channels == basic.conv2.in_channels == 4
    assert basic(x[:, :16]).shape == (2, 16, 6, 6)


def _anti_aliased(block, x, first_stage):
    """The block's function with its strided 3x3 stage at stride 1 and a 2x2 average after."""
    identity = block.downsample(x)
    if isinstance(block, SEBottleneck):
        out = F.relu(block.norm1(block.conv1(x)))
        out = F.avg_pool2d(first_stage(out), 2)
        out = block.norm3(
            block.conv3(block.attn(out) if block.attn_position == 'after_conv2' else out)
        )
    else:
        out = block.norm2(block.conv2(F.avg_pool2d(first_stage(x), 2)))
    return F.relu((block.attn(out) if block.attn_position == 'standard' else out) + identity)


@pytest.mark.parametrize('position', ['standard', 'after_conv2'])
def test_bottleneck_anti_alias(position):
    torch.manual_seed(0)
    block = make_bottleneck(
        in_channels=16, out_channels=64, stride=2, anti_alias='avg', attn_position=position
    )
    assert block.conv2.stride == (1, 1) and block.conv2_stride == 1
    assert isinstance(block.aa, torch.nn.AvgPool2d)
    assert not [k for k in block.state_dict() if k.startswith('aa')]
    x = torch.randn(2, 16, 8, 8)
    with torch.no_grad():
        expected = _anti_aliased(block, x, lambda t: F.relu(block.norm2(block.conv2(t))))
        torch.testing.assert_close(block(x), expected)
    # blocks at stride 1 keep their conv: no pool
    assert make_bottleneck(anti_alias='avg').aa is None


def test_basic_block_anti_alias():
    torch.manual_seed(0)
    downsample = torch.nn.Sequential(
        torch.nn.Conv2d(8, 16, 1, 2, bias=False), torch.nn.BatchNorm2d(16)
    )
    block = SEBasicBlock(8, 16, stride=2, downsample=downsample, anti_alias='avg', attn_cfg=SE)
    randomize_norms(block)
    block.eval()
    assert block.conv1.stride == (1, 1)
    x = torch.randn(2, 8, 8, 8)
    with torch.no_grad():
        expected = _anti_aliased(block, x, lambda t: F.relu(block.norm1(block.conv1(t))))
        torch.testing.assert_close(block(x), expected)


@pytest.mark.parametrize(
    'block, kwargs, error, match',
    [
        (SEBottleneck, dict(reduce_first=0), ValueError, 'reduce_first must be an int >= 1, got 0'),
        (
            SEBottleneck,
            dict(reduce_first=3),
            ValueError,
            'width=8 must be divisible by reduce_first=3',
        ),
        (
            SEBottleneck,
            dict(groups=4, width_per_group=2, base_channels=8, reduce_first=4),
            ValueError,
            r'mid_channels / reduce_first\)=2 must be divisible by groups=4',
        ),
        (
            SEBottleneck,
            dict(anti_alias='blur'),
            ValueError,
            "anti_alias must be one of None, 'avg', got 'blur'",
        ),
        (
            SEBottleneck,
            dict(anti_alias='avg', style='caffe'),
            ValueError,
            "style must be 'pytorch' with anti_alias .*, got 'caffe'",
        ),
        (SEBasicBlock, dict(reduce_first=1.5), TypeError, 'reduce_first must be an int'),
        (SEBasicBlock, dict(anti_alias=True), TypeError, 'anti_alias must be one of None, '),
    ],
)
def test_option_bad_arguments(block, kwargs, error, match):
    with pytest.raises(error, match=match):
        block(32, 32, **kwargs)
