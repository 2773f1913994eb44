import pytest
import torch
from helpers import classifier, num_params

from se_plugin.models import SEResNeXt
from se_plugin.registry import MODELS


def test_golden_params_se_resnext50_32x4d():
    """SENet Table 2: SE-ResNeXt-50 (32x4d) has 27.56M parameters."""
    model = MODELS.build(classifier(dict(type='se_plugin.SEResNeXt', depth=50), 2048))
    assert num_params(model) == 27_559_896
    assert round(num_params(model) / 1e6, 2) == 27.56


@pytest.mark.parametrize('depth', [50, 101, 152])
def test_shapes(depth):
    model = SEResNeXt(
        depth,
        groups=4,
        width_per_group=4,
        stem_channels=16,
        base_channels=16,
        stem_type='cifar',
        out_indices=(0, 1, 2, 3),
    ).eval()
    outs = model(torch.rand(1, 3, 32, 32))
    assert [o.shape[1] for o in outs] == [64, 128, 256, 512]
    assert model.layer1[0].conv2.groups == 4


def test_widths_32x4d():
    model = SEResNeXt(50)
    assert [getattr(model, f'layer{i}')[0].mid_channels for i in range(1, 5)] == [
        128,
        256,
        512,
        1024,
    ]


@pytest.mark.parametrize(
    'kwargs, error, match',
    [
        (dict(depth=18), ValueError, 'depth must be one of 50, 101, 152, got 18'),
        (dict(depth=50, groups=0), ValueError, 'groups must be an int >= 1'),
        (dict(depth=50, width_per_group=2.5), TypeError, 'width_per_group must be an int'),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        SEResNeXt(**kwargs)
