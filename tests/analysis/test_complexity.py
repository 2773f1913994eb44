"""se_plugin.analysis.complexity and tools/analysis/complexity.py."""

import glob
import os.path as osp
from functools import partial

import pytest
import torch
from helpers import num_params, run_script
from mmengine.config import Config
from torch import nn

from se_plugin.analysis.complexity import (
    build_model,
    config_complexity,
    format_flops,
    format_params,
    input_channels,
    input_shape_from_config,
    markdown_table,
    model_complexity,
    parse_shape,
)
from se_plugin.models import SELayer

from .conftest import QUICKSTART, ROOT

TOOL = osp.join(ROOT, 'tools', 'analysis', 'complexity.py')
CONFIGS = osp.join(ROOT, 'configs')


def test_counting_convention():
    # a 3x3 conv on 8x8 and a linear layer: one multiply-add = one FLOP
    model = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 64, 10)
    )
    params, flops, uncounted = model_complexity(model, (1, 8, 8))
    assert params == num_params(model) == 8 * 9 + 8 + 512 * 10 + 10
    assert flops == 8 * 9 * 64 + 512 * 10
    # SE: its two 1x1 convs, the squeeze (a mean over 5x5) and the scaling (a multiply per
    # element) count; the gate (a pointwise nonlinearity) does not, as relu in mmengine
    se = SELayer(16, ratio=4, divisor=1)
    params, flops, uncounted = model_complexity(se, (16, 5, 5))
    assert params == 16 * 4 + 4 + 4 * 16 + 16
    assert flops == 16 * 4 + 4 * 16 + 16 * 25 + 16 * 25
    assert uncounted == {}
    # mmengine's own convention: the convs only, the rest reported as uncounted
    _, flops, uncounted = model_complexity(se, (16, 5, 5), attention_ops=False)
    assert flops == 16 * 4 + 4 * 16
    assert set(uncounted) >= {'aten::mul', 'aten::sigmoid', 'aten::mean'}


@pytest.mark.parametrize(
    'module, shape, expected',
    [
        (nn.MaxPool2d(3, 2, 1), (2, 8, 8), 2 * 4 * 4 * 9),  # a window of 9 per output
        (nn.AvgPool2d(2), (2, 8, 8), 2 * 4 * 4 * 4),
        (nn.AdaptiveMaxPool2d(1), (2, 8, 8), 2 * 64),
    ],
)
def test_pooling_flops(module, shape, expected):
    assert model_complexity(module, shape)[1:] == (expected, {})


class _Moments(nn.Module):
    def forward(self, x):
        return (x - x.mean((2, 3), keepdim=True)).pow(2) / x.var((2, 3), keepdim=True)


def test_elementwise_and_reduction_flops():
    numel = 3 * 4 * 5
    # mean: 1 per input; sub, pow, div: 1 per output each; var: 3 per input
    assert model_complexity(_Moments(), (3, 4, 5))[1:] == (numel + 3 * numel + 3 * numel, {})


# the model configs of this environment (mmdet / mmseg ones build in the integration one)
MODEL_CONFIGS = sorted(
    path
    for path in glob.glob(osp.join(CONFIGS, '**', '*.py'), recursive=True)
    if osp.relpath(path, CONFIGS).split(osp.sep)[0] not in ('_base_', 'mmdet', 'mmseg')
)


@pytest.mark.parametrize('config', MODEL_CONFIGS, ids=lambda p: osp.relpath(p, CONFIGS))
def test_every_config_counts_every_operator(config):
    cfg = Config.fromfile(config)
    shape = (input_channels(cfg), 32, 32)
    _, flops, uncounted = model_complexity(build_model(cfg), shape)
    assert flops > 0 and uncounted == {}


def test_same_as_mmengine_get_model_complexity_info():
    from mmengine.analysis import get_model_complexity_info

    model = build_model(Config.fromfile(QUICKSTART))
    params, flops, _ = model_complexity(model, (1, 28, 28), attention_ops=False)
    info = get_model_complexity_info(model, (1, 28, 28), show_table=False, show_arch=False)
    assert (params, flops) == (info['params'], info['flops'])
    assert params == num_params(model)


def test_input_shape_from_config():
    assert input_shape_from_config(Config.fromfile(QUICKSTART)) == (1, 28, 28)
    imagenet = Config.fromfile(osp.join(CONFIGS, 'se_resnet50_imagenet.py'))
    assert input_shape_from_config(imagenet) == (3, 224, 224)
    pipeline = [dict(type='LoadImageFromFile'), dict(type='Resize', scale=(320, 256))]
    cfg = Config(dict(test_dataloader=dict(dataset=dict(type='X', pipeline=pipeline))))
    assert input_shape_from_config(cfg) == (3, 256, 320)  # Resize scale is (w, h)
    wrapped = dict(type='RepeatDataset', dataset=dict(type='X', pipeline=pipeline))
    cfg = Config(dict(test_dataloader=dict(dataset=wrapped), data_preprocessor=dict(mean=[0])))
    assert input_shape_from_config(cfg) == (1, 256, 320)
    cfg = Config(dict(test_dataloader=dict(dataset=dict(pipeline=[dict(type='PackInputs')]))))
    with pytest.raises(ValueError, match='pass --shape'):
        input_shape_from_config(cfg)


def test_parse_shape():
    assert parse_shape(None) is None
    assert parse_shape([32], channels=1) == (1, 32, 32)
    assert parse_shape([32, 48]) == (3, 32, 48)
    assert parse_shape([4, 32, 48]) == (4, 32, 48)
    for bad in ([], [1, 2, 3, 4], [0, 5]):
        with pytest.raises(ValueError, match='--shape'):
            parse_shape(bad)


def _se_layers(config):
    model = build_model(Config.fromfile(config))
    return [(m.in_channels, m.squeeze_channels) for m in model.modules() if isinstance(m, SELayer)]


def _se_input_sizes(config, shape):
    model = build_model(Config.fromfile(config)).eval()
    sizes = []
    for module in model.modules():
        if isinstance(module, SELayer):
            module.register_forward_hook(lambda m, args, out: sizes.append(args[0].numel()))
    with torch.no_grad():
        model(torch.randn(1, *shape), mode='tensor')
    return sizes


def test_quickstart_numbers():
    with_se = config_complexity(QUICKSTART)
    without = config_complexity(osp.join(CONFIGS, 'quickstart', 'resnet18_mnist5k.py'))
    assert with_se.input_shape == without.input_shape == (1, 28, 28)
    # the twins differ by the SE layers
    layers = _se_layers(QUICKSTART)
    assert len(layers) == 8  # one per block of ResNet-18
    assert with_se.params - without.params == sum(2 * c * w + w + c for c, w in layers)
    # their two 1x1 convs, plus the squeeze and the scaling: one op per input element each
    sizes = _se_input_sizes(QUICKSTART, (1, 28, 28))
    assert with_se.flops - without.flops == sum(2 * c * w for c, w in layers) + 2 * sum(sizes)
    assert 10e6 < without.flops < 100e6  # a quick-start model: tens of MFLOPs
    small = config_complexity(QUICKSTART, shape=[14])
    assert small.input_shape == (1, 14, 14) and small.flops < with_se.flops


def test_se_resnet50_golden():
    row = config_complexity(osp.join(CONFIGS, 'se_resnet50_imagenet.py'))
    assert row.params == 28_088_024  # timm = mmpretrain; SENet paper 28.1M
    assert row.input_shape == (3, 224, 224)
    assert row.flops == pytest.approx(4.132e9, rel=1e-3)  # mmpretrain reports 4.13 G
    assert row.model == 'SEResNet-50 (SE r=16)'


def test_ratio_matches_senet_table10():
    # SENet Table 10: r=8 gives 30.7M parameters
    row = config_complexity(osp.join(CONFIGS, 'ablations', 'se_resnet50_r8_imagenet.py'))
    assert row.params / 1e6 == pytest.approx(30.7, rel=0.005)
    # a ratio by --cfg-options: r=2 is 45.7M
    row = config_complexity(
        osp.join(CONFIGS, 'se_resnet50_imagenet.py'),
        shape=[32],
        cfg_options={'model.backbone.attn_cfg.ratio': 2},
    )
    assert row.params / 1e6 == pytest.approx(45.7, rel=0.005)


run_tool = partial(run_script, TOOL)  # (monkeypatch, capsys, *args) -> (code, out, err)


def test_tool(monkeypatch, capsys, tmp_path):
    torch.set_num_threads(1)
    out_file = tmp_path / 'table.md'
    sk = osp.join(CONFIGS, 'quickstart', 'sknet_mnist5k.py')
    code, out, err = run_tool(monkeypatch, capsys, QUICKSTART, sk, '--out', out_file)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == '| config | model | input | params (M) | FLOPs (G) |'
    row = config_complexity(QUICKSTART)
    expected = f'{format_params(row.params)} | {format_flops(row.flops)} |'
    assert f'SEResNet-18 (SE r=4) | 1x28x28 | {expected}' in lines[2]
    assert 'sknet_mnist5k.py` | SKNet-26 ' in lines[3] and '| 1x28x28 |' in lines[3]
    text = out_file.read_text()
    assert text.startswith('Generated by:\n\n```bash\npython tools/analysis/complexity.py ')
    assert f'--out {out_file}' in text and lines[2] in text and 'multiply-add = 1 FLOP' in text

    code, _, err = run_tool(monkeypatch, capsys, QUICKSTART, '--shape', '1', '2', '3', '4')
    assert code == 2 and err.startswith('error: --shape takes 1 to 3 positive ints')
    code, _, err = run_tool(monkeypatch, capsys, 'configs/nope.py')
    assert code == 2 and 'config file not found' in err
    code, _, err = run_tool(
        monkeypatch, capsys, QUICKSTART, '--cfg-options', 'model.backbone.attn_cfg.ratio=0'
    )
    assert code == 2 and 'ratio must be a finite number > 0' in err
    assert len(err.strip().splitlines()) == 1


def test_markdown_table_rows():
    rows = [config_complexity(QUICKSTART)]
    table = markdown_table(rows)
    assert table.count('\n') == 3 and '`' + osp.normpath(QUICKSTART) + '`' in table
