"""Tests of se_plugin.models.backbones.res_layer (ResLayer, down_kernel_size)."""

import pytest
import torch
from mmpretrain.models.backbones.resnet import ResLayer as MMPretrainResLayer

from se_plugin.models import SEBasicBlock, SEBottleneck
from se_plugin.models.backbones.res_layer import ResLayer


def layout(module):
    """Every submodule below the stage: name, type, weight shape."""
    return [
        (name, type(m), tuple(getattr(m, 'weight', torch.empty(0)).shape))
        for name, m in module.named_modules()
        if name
    ]


@pytest.mark.parametrize(
    'block, kwargs',
    [
        (SEBottleneck, dict(in_channels=64, out_channels=256, stride=1)),
        (SEBottleneck, dict(in_channels=256, out_channels=512, stride=2, avg_down=True)),
        (SEBottleneck, dict(in_channels=64, out_channels=256, stride=1, avg_down=True)),
        (SEBasicBlock, dict(in_channels=64, out_channels=128, stride=2)),
        (SEBasicBlock, dict(in_channels=64, out_channels=64, stride=1)),
    ],
)
def test_default_is_mmpretrains_res_layer(block, kwargs):
    """Same modules, names, shapes (so state-dict keys) as mmpretrain's ResLayer."""
    ours = ResLayer(block, 2, drop_path_rate=[0.0, 0.1], **kwargs)
    theirs = MMPretrainResLayer(block, 2, drop_path_rate=[0.0, 0.1], **kwargs)
    assert layout(ours) == layout(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert repr(ours[0].downsample) == repr(theirs[0].downsample)


def test_down_kernel_size_on_strided_projections_only():
    """SENet-154 / timm down_kernel_size=3: 3x3 stride-2 projection, 1x1 at stride 1."""
    strided = ResLayer(SEBottleneck, 1, 256, 512, stride=2, down_kernel_size=3)
    conv = strided[0].downsample[0]
    assert (conv.kernel_size, conv.stride, conv.padding) == ((3, 3), (2, 2), (1, 1))
    first = ResLayer(SEBottleneck, 1, 64, 256, stride=1, down_kernel_size=3)
    assert first[0].downsample[0].kernel_size == (1, 1)
    x = torch.randn(1, 256, 9, 9)
    assert strided.eval()(x).shape == (1, 512, 5, 5)


@pytest.mark.parametrize(
    'kwargs, error, match',
    [
        (dict(down_kernel_size=2), ValueError, 'down_kernel_size must be an odd int >= 1'),
        (dict(down_kernel_size=0), ValueError, 'down_kernel_size must be an int >= 1, got 0'),
        (dict(down_kernel_size=3.0), TypeError, 'down_kernel_size must be an int'),
        (
            dict(down_kernel_size=3, avg_down=True),
            ValueError,
            r'down_kernel_size must be 1 with avg_down=True .*, got 3',
        ),
        (dict(drop_path_rate=[0.1]), ValueError, r'drop_path_rate must be .* \(one per block\)'),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        ResLayer(SEBottleneck, 2, 256, 512, stride=2, **kwargs)
