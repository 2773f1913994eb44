"""se_plugin.export and tools/export.py: ONNX / TorchScript / torch.export parity.

Every backbone family is exported in every format at 32 px and run on two
batch sizes; a graph with dynamic height and width also down to 1x1 deepest
feature maps, where a size frozen at trace time or a NaN is reported, and the
file is then not kept. Options are checked before any work.

The models get random BatchNorm statistics and a head with unit scale weights,
so that the eval-mode norms do real work (onnxruntime folds them into the
convolutions) and the logits are of order one: the measured max abs
differences are then meaningful (printed with ``-s``; ONNX ~1e-6, the torch
formats 0).
"""

import errno
import os
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
from se_plugin.export_parity import spatial_reduction

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


def small_classifier(name: str, **changes) -> nn.Module:
    """A 10-class classifier around ``BACKBONES[name]`` (with ``changes``) with
    non-trivial eval BN."""
    torch.manual_seed(0)
    config = dict(BACKBONES[name], **changes)
    backbone = MODELS.build(config)
    backbone.eval()
    channels = backbone(torch.rand(1, *SHAPE))[-1].shape[1]
    model = MODELS.build(
        dict(
            type='ImageClassifier',
            backbone=config,
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


@pytest.mark.parametrize(
    'fmt, exporter',
    [('onnx', 'torchscript'), ('onnx', 'dynamo'), ('torchscript', None), ('export', None)],
)
def test_dynamic_height_and_width(fmt, exporter, tmp_path):
    # the dynamo exporter goes through torch.export with the same dynamic axes
    out = str(tmp_path / f'm.{"pt2" if fmt == "export" else fmt}')
    model = small_classifier('se_resnet')
    kwargs = dict(onnx_exporter=exporter) if exporter else {}
    result = export_model(model, out, SHAPE, fmt, dynamic_hw=True, **kwargs)
    assert result.onnx_exporter == exporter
    print(f'\nse_resnet {fmt} {exporter} dynamic H/W: max abs diff {result.max_abs_diff:.3g}')
    assert result.ok and result.saved, format_result(result)
    assert result.max_abs_diff < 1e-4
    # stride 8 (cifar stem): 1x1, 2x2 and 3x3 deepest maps, then a larger size
    sizes = [c.shape[2:] for c in result.checks[2:]]
    if fmt == 'export':  # torch.export refuses 1x1 maps by design: said, not checked
        assert sizes == [(16, 16), (17, 24), (40, 40)]
        assert result.notes == [
            '3x3x8x8: not checked, 1x1 feature maps: torch.export programs refuse sizes 0 '
            'and 1 of what they trace'
        ]
    else:
        assert sizes == [(8, 8), (16, 16), (17, 24), (40, 40)] and result.notes == []
    assert 'dynamic axes: batch, height, width' in format_result(result)


def test_spatial_reduction_is_measured():
    model = small_classifier('se_resnet')
    from se_plugin.export import InferenceModel

    assert spatial_reduction(InferenceModel(model), SHAPE) == (8, 8)
    # deepest maps 4x3 at 28x20: ceil(28 / 4), ceil(20 / 3)
    assert spatial_reduction(InferenceModel(model), (3, 28, 20)) == (7, 7)
    assert spatial_reduction(nn.Flatten(), (1, 8, 8)) == (1, 1)  # no feature maps


class _FrozenDivisor(nn.Module):
    """Divides by the number of positions read as a Python float: a trace bakes it in."""

    def forward(self, x):
        return x.flatten(2).sum(2) / float(x.shape[2] * x.shape[3])


class _NanOnOneByOne(nn.Module):
    """The unbiased variance, 0 for one position: a trace keeps the branch it saw."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 3, stride=2, padding=1)

    def forward(self, x):
        x = self.conv(x)
        if x.shape[2] * x.shape[3] > 1:
            return x.flatten(2).var(2)
        return x.new_zeros(x.shape[:2])


@pytest.mark.parametrize(
    'module, bad_sizes',
    [(_FrozenDivisor, 'every other size'), (_NanOnOneByOne, 'the 1x1 maps')],
)
@pytest.mark.parametrize('fmt', ['onnx', 'torchscript'])
def test_dynamic_graph_wrong_at_other_sizes_is_reported_and_not_kept(
    module, bad_sizes, fmt, tmp_path
):
    out = tmp_path / f'm.{fmt}'
    out.write_bytes(b'an earlier export')
    result = export_model(module(), str(out), (2, 8, 8), fmt, dynamic_hw=True)
    text = format_result(result)
    assert not result.ok and not result.saved, text
    assert text.startswith(f'NOT saved {out}') and 'earlier file there is unchanged' in text
    assert all(c.ok for c in result.checks[:2])  # right at the traced size
    if bad_sizes == 'the 1x1 maps':  # input 2x2 (stride 2): NaN there, right elsewhere
        assert [c.shape for c in result.checks if not c.ok] == [(3, 2, 2, 2)]
        assert 'MISMATCH (non-finite output)' in text
    else:
        assert not any(c.ok for c in result.checks[2:])
    assert out.read_bytes() == b'an earlier export'
    assert os.listdir(tmp_path) == [out.name]  # no temporary file left


def test_failed_parity_writes_no_file(tmp_path):
    out = tmp_path / 'static.pt'
    result = export_model(_FrozenDivisor(), str(out), (1, 4, 4), 'torchscript', atol=0, rtol=0)
    assert result.ok and result.saved and out.is_file()  # exact at the traced size
    out.unlink()
    result = export_model(_Branchy(), str(out), (1, 4, 4), 'torchscript', batch_sizes=(1, 2, 3, 4))
    assert not result.saved and not out.exists() and os.listdir(tmp_path) == []


def test_full_disk_keeps_the_earlier_file(tmp_path, monkeypatch):
    out = tmp_path / 'm.pt'
    export_model(small_classifier('se_resnet'), str(out), SHAPE, 'torchscript')
    before = out.read_bytes()

    def full(module, f):
        f.write(b'half a file')
        raise OSError(errno.ENOSPC, 'No space left on device')

    monkeypatch.setattr(torch.jit, 'save', full)
    with pytest.raises(OSError, match='No space left'):
        export_model(small_classifier('se_resnet'), str(out), SHAPE, 'torchscript')
    assert out.read_bytes() == before and os.listdir(tmp_path) == ['m.pt']


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
    'kwargs, error, match',
    [
        (dict(fmt='tflite'), ExportError, 'format must be one of onnx, torchscript, export'),
        (dict(input_shape=(32, 32)), ExportError, r'input_shape must be \(C, H, W\)'),
        (dict(input_shape=(1, 0, 8)), ExportError, r'input_shape must be \(C, H, W\), ints >= 1'),
        (dict(batch_sizes=(0, 2)), ExportError, 'batch sizes must be >= 1'),
        (dict(batch_sizes=()), ExportError, 'give at least one'),
        (dict(batch_sizes=(True,)), TypeError, 'batch size must be an int'),
        (dict(fmt='export'), ExportError, 'must end in .pt2'),
        (dict(onnx_exporter='legacy'), ExportError, 'onnx_exporter must be one of'),
        (dict(opset=6), ExportError, r'opset must be in 7\.\.20 for the torchscript'),
        (dict(opset=21), ExportError, r'opset must be in 7\.\.20'),
        (dict(opset=17, onnx_exporter='dynamo'), ExportError, r'18\.\.23 for the dynamo'),
        (dict(opset=18.5), TypeError, 'opset must be an int'),
        (dict(atol=-1), ExportError, 'atol must be a finite number >= 0, got -1'),
        (dict(atol=float('nan')), ValueError, 'atol must be a finite number, got nan'),
        (dict(rtol=float('inf')), ValueError, 'rtol must be a finite number, got inf'),
        (dict(rtol='1e-3'), TypeError, "rtol must be a finite number, got '1e-3'"),
        (dict(out=''), ExportError, 'out must be a file path'),
    ],
)
def test_bad_arguments(kwargs, error, match, tmp_path):
    args = dict(out=str(tmp_path / 'm.onnx'), input_shape=(1, 8, 8))
    args.update(kwargs)
    with pytest.raises(error, match=match):
        export_model(nn.Conv2d(1, 2, 3), **args)
    assert os.listdir(tmp_path) == []  # refused before any work


def test_parity_shapes():
    assert parity_shapes((1, 28, 28)) == [(1, 1, 28, 28), (3, 1, 28, 28)]
    assert parity_shapes((3, 32, 48), (2, 5), dynamic_hw=True, reduction=(8, 16)) == [
        (2, 3, 32, 48),
        (5, 3, 32, 48),
        (5, 3, 8, 16),  # 1x1 deepest maps
        (5, 3, 16, 32),  # 2x2
        (5, 3, 17, 48),  # 3x3, odd height
        (5, 3, 40, 60),
    ]
    # the traced size itself is not checked twice
    assert parity_shapes((1, 8, 8), (1,), dynamic_hw=True, reduction=(4, 4))[1:] == [
        (1, 1, 4, 4),
        (1, 1, 9, 12),
        (1, 1, 10, 10),
    ]


def test_a_size_pytorch_cannot_run_is_skipped(tmp_path):
    # an unpadded 5x5 conv: stride 2 measured (8 -> 4, 16 -> 12), but 2x2 and 4x4 inputs
    # are too small for PyTorch itself
    conv = nn.Conv2d(1, 2, 5)
    result = export_model(conv, str(tmp_path / 'c.pt'), (1, 8, 8), 'torchscript', dynamic_hw=True)
    assert result.ok and result.saved
    assert [s.split(':')[0] for s in result.notes] == ['3x1x2x2', '3x1x4x4']
    assert result.notes[0].startswith('3x1x2x2: skipped, PyTorch cannot run it either (')
    assert '  input 3x1x4x4: skipped, PyTorch cannot run it either' in format_result(result)


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
    # a zero tolerance: onnxruntime's folded norms are not bit-identical -> exit 2, and
    # the file of the first export is kept as it was
    before = out.read_bytes()
    code, stdout, _ = run_tool(
        monkeypatch, capsys, QUICKSTART, ckpt, '--out', out, '--atol', '0', '--rtol', '0'
    )
    assert code == 2 and 'MISMATCH' in stdout
    assert stdout.startswith(f'NOT saved {out}: ') and out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ['qs.onnx', 'w.pth']
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


SIZE_DEPENDENT = {
    # unbiased variance over H * W - 1 positions, 1 for 1x1 maps (a tensor op in the graph)
    'srm': dict(type='se_plugin.SRMLayer'),
    'simam': dict(type='se_plugin.SimAM'),
    # a 4x4 map gathers to 1x1 at the traced size, a 5x5 one to 2x2 (interpolated back)
    'gather_excite': dict(type='se_plugin.GatherExcite', extent=4, ratio=4),
}


@pytest.mark.parametrize('fmt', ['onnx', 'torchscript'])
@pytest.mark.parametrize('name', SIZE_DEPENDENT)
def test_size_dependent_attention_exports_with_dynamic_height_and_width(name, fmt, tmp_path):
    """Whatever depends on the map's size stays in the exported graph: sizes other
    than the traced one (1x1 deepest maps included) give the model's outputs."""
    model = small_classifier('se_resnet', attn_cfg=SIZE_DEPENDENT[name])
    for module in model.modules():
        if hasattr(module, 'cfc'):
            module.cfc.data.normal_()  # SRM's zeros at init would hide the style statistics
    out = str(tmp_path / f'{name}.{fmt}')
    result = export_model(model, out, SHAPE, fmt, dynamic_hw=True)
    assert result.ok and result.saved, format_result(result)
    assert len({c.shape[2:] for c in result.checks} - {SHAPE[1:]}) >= 2, format_result(result)
