"""se_plugin.analysis.excitation and tools/analysis/excitation.py."""

import json
import os.path as osp
from functools import partial

import numpy as np
import pytest
import torch
from helpers import run_script
from torch import nn

from se_plugin.analysis.complexity import build_model
from se_plugin.analysis.excitation import (
    ExcitationRecorder,
    default_layers,
    se_layer_names,
    select_layers,
)
from se_plugin.cli import load_config
from se_plugin.models import SELayer, SEResNet

from .conftest import QUICKSTART, ROOT

TOOL = osp.join(ROOT, 'tools', 'analysis', 'excitation.py')


def test_layer_names_and_defaults():
    model = SEResNet(depth=18, in_channels=1, base_channels=8, stem_channels=8, stem_type='cifar')
    names = se_layer_names(model)
    assert names == [f'layer{s}.{b}.attn' for s in (1, 2, 3, 4) for b in (0, 1)]
    assert default_layers(names) == ['layer1.1.attn', 'layer3.1.attn', 'layer4.1.attn']
    assert default_layers(['a.layer1.0.attn', 'a.layer2.0.attn']) == [
        'a.layer1.0.attn',
        'a.layer2.0.attn',
    ]
    assert select_layers(names, ['layer4.0.attn', 'layer2.*']) == [
        'layer4.0.attn',
        'layer2.0.attn',
        'layer2.1.attn',
    ]
    with pytest.raises(ValueError, match='matches 4 SE layers'):
        select_layers(names, ['0.attn'])
    with pytest.raises(ValueError, match='no such SE layer; the model has layer1.0.attn'):
        select_layers(names, ['layer5.0.attn'])
    with pytest.raises(ValueError, match='the model has no SELayer'):
        select_layers([], None)


def test_recorder_means_per_class():
    torch.manual_seed(0)
    se = SELayer(6, ratio=2, divisor=1)
    model = nn.Sequential(nn.Conv2d(3, 6, 3), se).eval()
    x = torch.randn(10, 3, 8, 8)
    labels = torch.tensor([0, 2, 2, 0, 1, 2, 0, 0, 1, 2])
    with ExcitationRecorder(model, ['1'], num_classes=4) as recorder, torch.no_grad():
        for part in (slice(0, 6), slice(6, 10)):
            recorder.count(labels[part])
            model(x[part])
    result = recorder.result(['a', 'b', 'c', 'd'])
    assert not se.gate._forward_hooks  # hooks removed
    with torch.no_grad():
        weights = se.excitation(model[0](x)).flatten(1).double()
    means = result.means['1']
    assert means.shape == (4, 6)
    for cls in range(3):
        expected = weights[labels == cls].mean(0).numpy()
        np.testing.assert_allclose(means[cls], expected, rtol=1e-6)
    assert np.isnan(means[3]).all()  # class never seen
    assert result.counts.tolist() == [4, 2, 4, 0]
    np.testing.assert_allclose(result.overall('1'), weights.mean(0).numpy(), rtol=1e-6)


run_tool = partial(run_script, TOOL)  # (monkeypatch, capsys, *args) -> (code, out, err)


# the test set of the tiny sweep (50 digits, 5 per class), and its ratio-2 model
TOOL_OPTIONS = [
    '--cfg-options',
    'model.backbone.attn_cfg.ratio=2',
    f'test_dataloader.dataset.indices={list(range(0, 1000, 20))}'.replace(' ', ''),
    'test_dataloader.batch_size=20',
]


@pytest.mark.slow
def test_tool_on_trained_checkpoint(monkeypatch, capsys, tmp_path, tiny_sweep):
    plan, _, _ = tiny_sweep
    run = plan.runs[0]
    assert run.point.name == 'ratio-2'
    checkpoint = osp.join(run.work_dir, 'epoch_2.pth')
    code, out, err = run_tool(
        monkeypatch, capsys, QUICKSTART, checkpoint, '--out-dir', tmp_path, *TOOL_OPTIONS
    )
    assert code == 0, err
    assert (
        '50 images, layers: backbone.layer1.1.attn, backbone.layer3.1.attn, backbone.layer4.1.attn'
        in out
    )
    model = dict(build_model(load_config(QUICKSTART)).named_modules())
    for layer in ('backbone.layer1.1.attn', 'backbone.layer3.1.attn', 'backbone.layer4.1.attn'):
        channels = model[layer].in_channels
        means = np.load(tmp_path / f'{layer}.npy')
        assert means.shape == (10, channels)
        assert np.isfinite(means).all() and ((means > 0) & (means < 1)).all()  # sigmoid gate
        assert (tmp_path / f'{layer}.png').read_bytes()[:4] == b'\x89PNG'
    assert (tmp_path / 'excitation.png').is_file()
    summary = json.loads((tmp_path / 'summary.json').read_text())
    assert summary['counts'] == [5] * 10 and summary['classes'] == [str(d) for d in range(10)]
    stats = summary['stats']['backbone.layer4.1.attn']
    assert 0 < stats['mean'] < 1 and 0 <= stats['saturated'] <= 1
    assert 0 <= stats['class_spread'] <= stats['max_class_spread']
    assert 'backbone.layer4.1.attn: mean ' in out and 'class spread' in out

    # a chosen layer and classes, a sample limit
    code, out, err = run_tool(
        monkeypatch, capsys, QUICKSTART, checkpoint, '--out-dir', tmp_path / 'one',
        '--layers', 'layer2.0.attn', '--classes', '3', '7', '--max-samples', '20', *TOOL_OPTIONS,
    )  # fmt: skip
    assert code == 0, err
    assert '20 images, layers: backbone.layer2.0.attn' in out
    summary = json.loads((tmp_path / 'one' / 'summary.json').read_text())
    assert sum(summary['counts']) == 20 and summary['plotted_classes'] == [3, 7]


@pytest.mark.slow
def test_tool_errors(monkeypatch, capsys, tmp_path, tiny_sweep):
    checkpoint = osp.join(tiny_sweep[0].runs[0].work_dir, 'epoch_2.pth')
    cases = [
        # trained with ratio 2: the quick start's ratio 4 does not fit
        ((QUICKSTART, checkpoint), "does not fit the config's model"),
        ((QUICKSTART, checkpoint, *TOOL_OPTIONS, '--layers', 'layer9.0.attn'), 'no such SE layer'),
        ((QUICKSTART, tmp_path / 'none.pth'), 'checkpoint not found'),
        ((QUICKSTART, checkpoint, *TOOL_OPTIONS, '--classes', '10'), 'class indices are 0..9'),
        (
            (QUICKSTART, checkpoint, '--cfg-options', 'model.backbone.attn_cfg=None'),
            'the model has no SELayer',
        ),
    ]
    for args, needle in cases:
        code, _, err = run_tool(monkeypatch, capsys, *args, '--out-dir', tmp_path / 'x')
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and needle in lines[0], (args, err)
