"""se_plugin.export and tools/export.py: ONNX / TorchScript / torch.export parity.

Every backbone family is exported in every format at 32 px and run on two
batch sizes. The models get random BatchNorm statistics and a head with unit
scale weights, so that the eval-mode norms do real work (onnxruntime folds them
into the convolutions) and the logits are of order one: the measured max abs
differences are then meaningful (printed with ``-s``; ONNX ~1e-6, the torch
formats 0).
"""

import os.path as osp
from functools import partial

import pytest
import torch
from helpers import run_script
from mmpretrain.registry import MODELS
from torch import nn

from se_plugin.export import (
    ExportError,
    check_plain_graph,
    export_model,
    format_result,
    load_exported,
    parity_shapes,
)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TOOL = osp.join(ROOT, 'tools', 'export.py')
QUICKSTART = osp.join(ROOT, 'configs', 'quickstart', 'se_resnet18_mnist5k.py')
SE = dict(type='se_plugin.SELayer', ratio=4)
# narrow, and two stages for the 50-layer ResNeXt: export time grows with the op count
NARROW = dict(stem_type='cifar', stem_channels=16, base_channels=16)
TWO_STAGES = dict(num_stages=2, strides=(1, 2), dilations=(1, 1), out_indices=(1,))
BACKBONES = {
    'se_resnet': dict(type='se_plugin.SEResNet', depth=18, attn_cfg=SE, **NARROW),
    'se_resnext': dict(
        type='se_plugin.SEResNeXt',
        depth=50,
        groups=4,
        width_per_group=4,
        attn_cfg=dict(SE, squeeze='avgmax'),
        attn_position='post',
        **NARROW,
        **TWO_STAGES,
    ),
    'sknet': dict(
        type='se_plugin.SKNet', depth=26, groups=4, width_per_group=4, min_channels=8, **NARROW
    ),
    'se_densenet': dict(
        type='se_plugin.SEDenseNet',
        arch=dict(growth_rate=8, depths=[2, 2, 2], init_channels=16),
        attn_stages=(True, True, True),
    ),
    'attention_injected': dict(
        type='se_plugin.AttentionInjected',
        backbone=dict(type='ResNet', depth=18, base_channels=16, stem_channels=16),
        attention=SE,
        after='layer*.*.bn2',
    ),
}
SHAPE = (3, 32, 32)


def small_classifier(name: str) -> nn.Module:
    """A 10-class classifier around ``BACKBONES[name]`` with non-trivial eval BN."""
    torch.manual_seed(0)
    backbone = MODELS.build(BACKBONES[name])
    backbone.eval()
    channels = backbone(torch.rand(1, *SHAPE))[-1].shape[1]
    model = MODELS.build(
        dict(
            type='ImageClassifier',
            backbone=BACKBONES[name],
            neck=dict(type='GlobalAveragePooling'),
            head=dict(type='LinearClsHead', num_classes=10, in_channels=channels),
        )
    )
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
    nn.init.normal_(model.head.fc.weight, std=1.0)
    return model


@pytest.mark.parametrize('fmt', ['onnx', 'torchscript', 'export'])
@pytest.mark.parametrize('name', list(BACKBONES))
def test_every_family_exports_with_parity(name, fmt, tmp_path):
    out = tmp_path / f'model.{"pt2" if fmt == "export" else fmt}'
    result = export_model(small_classifier(name), str(out), SHAPE, fmt)
    print(f'\n{name} {fmt}: max abs diff {result.max_abs_diff:.3g}')
    assert out.is_file() and result.ok, format_result(result)
    assert [c.shape for c in result.checks] == [(1, *SHAPE), (3, *SHAPE)]
    assert all(c.max_abs_ref > 0.5 for c in result.checks)  # logits of order one
    tolerance = 1e-4 if fmt == 'onnx' else 1e-5
    assert result.max_abs_diff < tolerance
    assert result.opset == (18 if fmt == 'onnx' else None)


@pytest.mark.parametrize('exporter', ['torchscript', 'dynamo'])
def test_dynamic_height_and_width(exporter, tmp_path):
    # the dynamo exporter goes through torch.export with the same dynamic axes
    out = str(tmp_path / 'm.onnx')
    model = small_classifier('se_resnet')
    result = export_model(model, out, SHAPE, 'onnx', dynamic_hw=True, onnx_exporter=exporter)
    assert result.onnx_exporter == exporter
    print(f'\nse_resnet onnx {exporter} dynamic H/W: max abs diff {result.max_abs_diff:.3g}')
    assert result.ok, format_result(result)
    assert result.max_abs_diff < 1e-4
    assert result.checks[-1].shape == (3, 3, 40, 40)
    assert 'dynamic axes: batch, height, width' in format_result(result)


def test_static_height_and_width_refuse_other_sizes(tmp_path):
    out = str(tmp_path / 'static.onnx')
    export_model(small_classifier('se_resnet'), out, SHAPE, 'onnx')
    run = load_exported(out, 'onnx')
    assert len(run(torch.rand(2, *SHAPE))) == 1
    with pytest.raises(Exception, match='input'):  # noqa: B017  (onnxruntime's own error type)
        run(torch.rand(1, 3, 40, 40))


class _Branchy(nn.Module):
    """Data-dependent Python control flow: a trace keeps the branch it saw."""

    def forward(self, x):
        return x * 2 if x.mean() > 0 else x - 1


class _Double(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x * 2

    @staticmethod
    def backward(ctx, grad):
        return grad * 2


class _WithFunction(nn.Module):
    def forward(self, x):
        return _Double.apply(x)


def test_mismatch_is_reported(tmp_path):
    torch.manual_seed(0)
    result = export_model(
        _Branchy(), str(tmp_path / 'b.pt'), (1, 4, 4), 'torchscript', batch_sizes=(1, 2, 3, 4)
    )
    assert not result.ok
    assert 'MISMATCH' in format_result(result)


def test_autograd_function_in_graph_is_refused(tmp_path):
    traced = torch.jit.trace(_WithFunction(), torch.rand(2, 3))
    with pytest.raises(ExportError, match='autograd Functions.*_Double'):
        check_plain_graph(traced, 'torchscript')
    with pytest.raises(ExportError, match='plain inference path'):
        export_model(_WithFunction(), str(tmp_path / 'f.pt'), (1, 4, 4), 'torchscript')


def test_se_layers_export_without_functions_in_training_mode():
    # even with gradients on, the trace takes the plain path (no FusedSqueezeScale)
    model = small_classifier('se_resnet')
    model.train()
    traced = torch.jit.trace(model.backbone, torch.rand(2, *SHAPE), check_trace=False)
    check_plain_graph(traced, 'torchscript')


@pytest.mark.parametrize(
    'kwargs, match',
    [
        (dict(fmt='tflite'), 'format must be one of onnx, torchscript, export'),
        (dict(input_shape=(32, 32)), r'input_shape must be \(C, H, W\)'),
        (dict(batch_sizes=(0, 2)), 'batch sizes must be >= 1'),
        (dict(fmt='export'), 'must end in .pt2'),
        (dict(onnx_exporter='legacy'), 'onnx_exporter must be one of torchscript, dynamo'),
    ],
)
def test_bad_arguments(kwargs, match, tmp_path):
    args = dict(out=str(tmp_path / 'm.onnx'), input_shape=(1, 8, 8))
    args.update(kwargs)
    with pytest.raises(ExportError, match=match):
        export_model(nn.Conv2d(1, 2, 3), **args)


def test_parity_shapes():
    assert parity_shapes((1, 28, 28)) == [(1, 1, 28, 28), (3, 1, 28, 28)]
    assert parity_shapes((3, 32, 48), (2, 5), dynamic_hw=True) == [(2, 3, 32, 48), (5, 3, 40, 60)]


run_tool = partial(run_script, TOOL)


@pytest.mark.slow
def test_tool_with_checkpoint(monkeypatch, capsys, tmp_path):
    from se_plugin.analysis.complexity import build_model
    from se_plugin.cli import load_config

    model = build_model(load_config(QUICKSTART))
    ckpt = tmp_path / 'w.pth'
    torch.save({'state_dict': model.state_dict()}, ckpt)
    out = tmp_path / 'qs.onnx'
    code, stdout, err = run_tool(monkeypatch, capsys, QUICKSTART, ckpt, '--out', out)
    assert code == 0, err
    lines = stdout.splitlines()
    assert lines[0] == f'saved {out}: onnx (opset 18, torchscript exporter), dynamic axes: batch'
    assert lines[1].startswith('  input 1x1x28x28: max abs difference vs PyTorch ')
    assert lines[2].startswith('  input 3x1x28x28: ') and lines[2].endswith(' ok')
    # a zero tolerance: onnxruntime's folded norms are not bit-identical -> exit 2
    code, stdout, _ = run_tool(
        monkeypatch, capsys, QUICKSTART, ckpt, '--out', out, '--atol', '0', '--rtol', '0'
    )
    assert code == 2 and 'MISMATCH' in stdout
    # user errors: one line, exit 2
    bad = tmp_path / 'bad.pth'
    torch.save({'state_dict': {'nope': torch.zeros(1)}}, bad)
    for args, message in [
        ((bad, '--out', out), 'does not fit the config'),
        ((tmp_path / 'missing.pth', '--out', out), 'checkpoint not found'),
        (('--out', tmp_path / 'x.pt', '--format', 'export'), 'must end in .pt2'),
        (('--out', out, '--format', 'tflite'), 'invalid choice'),
    ]:
        code, _, err = run_tool(monkeypatch, capsys, QUICKSTART, *args)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
