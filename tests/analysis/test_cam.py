"""se_plugin.analysis.cam and tools/visualization/vis_cam.py (grad-cam package)."""

import os.path as osp
from functools import partial

import cv2
import numpy as np
import pytest
import torch
from helpers import run_script
from mmpretrain.registry import MODELS

from se_plugin.analysis.cam import (
    cam_method,
    compute_cams,
    default_target_layers,
    resolve_layer,
)
from se_plugin.analysis.complexity import build_model
from se_plugin.cli import load_config

from .conftest import QUICKSTART, ROOT

TOOL = osp.join(ROOT, 'tools', 'visualization', 'vis_cam.py')


@pytest.fixture(scope='module')
def quickstart(tmp_path_factory):
    """Random-weight quick-start checkpoint and two MNIST-5k test digits as PNG files."""
    from se_plugin.datasets import MNIST5k

    tmp = tmp_path_factory.mktemp('cam')
    torch.manual_seed(0)
    model = build_model(load_config(QUICKSTART))
    checkpoint = tmp / 'w.pth'
    torch.save({'state_dict': model.state_dict()}, checkpoint)
    dataset = MNIST5k(split='test')
    digits = []
    for index in (0, 300):  # a 0 and a 3 (the split is sorted by class)
        info = dataset.get_data_info(index)
        digits.append(tmp / f'{info["gt_label"]}.png')
        cv2.imwrite(str(digits[-1]), info['img'])
    return model, checkpoint, digits


def test_resolve_layer(quickstart):
    model = quickstart[0]
    last = model.backbone.layer4[-1]
    for name in ('backbone.layer4.1', 'backbone.layer4[-1]', 'backbone.layer4.-1'):
        assert resolve_layer(model, name) is last
    with pytest.raises(ValueError, match="backbone has no submodule 'layer9'.*layer4"):
        resolve_layer(model, 'backbone.layer9')
    with pytest.raises(ValueError, match='index 5 out of range'):
        resolve_layer(model, 'backbone.layer4[5]')


def test_default_target_layers(quickstart):
    assert [n for n, _ in default_target_layers(quickstart[0])] == ['backbone.layer4.1']
    dense = MODELS.build(
        dict(type='se_plugin.SEDenseNet', arch=dict(growth_rate=8, depths=[2, 2], init_channels=8))
    )
    ((name, layer),) = default_target_layers(dense)
    assert (
        isinstance(layer, torch.nn.BatchNorm2d)
        and name == [n for n, m in dense.named_modules() if isinstance(m, torch.nn.BatchNorm2d)][-1]
    )


@pytest.mark.parametrize('name', ['GradCAM', 'gradcam++', 'XGradCAM', 'EigenCAM', 'LayerCAM'])
def test_methods(name, quickstart):
    import pytorch_grad_cam

    assert issubclass(cam_method(name), pytorch_grad_cam.base_cam.BaseCAM)
    model = quickstart[0]
    inputs = torch.randn(2, 1, 28, 28)
    cams, probs = compute_cams(model, inputs, [model.backbone.layer3[-1]], name)
    assert cams.shape == (2, 28, 28) and probs.shape == (2, 10)
    assert np.all((cams >= 0) & (cams <= 1 + 1e-6))
    if name != 'XGradCAM':  # XGradCAM's ReLU-ed map can be all zero on random weights
        assert cams.std() > 0


def test_bad_method_and_category(quickstart):
    with pytest.raises(ValueError, match='--method must be one of gradcam, gradcam\\+\\+'):
        cam_method('SmoothGrad')
    model = quickstart[0]
    with pytest.raises(ValueError, match=r'--target-category: one class or one per image'):
        compute_cams(model, torch.randn(2, 1, 28, 28), [model.backbone.layer4], 'GradCAM', [10])


run_tool = partial(run_script, TOOL)


@pytest.mark.slow
def test_tool(quickstart, monkeypatch, capsys, tmp_path):
    _, checkpoint, digits = quickstart
    out = tmp_path / 'cam.png'
    code, stdout, err = run_tool(
        monkeypatch, capsys, *digits, QUICKSTART, checkpoint, '--save-path', out
    )
    assert code == 0, err
    lines = stdout.splitlines()
    assert lines[0] == 'target layers: backbone.layer4.1; method: GradCAM'
    assert lines[1].startswith('predictions: ') and len(lines[1].split()) == 3
    assert out.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    code, stdout, err = run_tool(
        monkeypatch, capsys, *digits, QUICKSTART, checkpoint, '--save-path', out,
        '--method', 'gradcam++', '--target-layers', 'backbone.layer3[-1]',
        '--target-category', '3',
    )  # fmt: skip
    assert code == 0, err
    assert 'target layers: backbone.layer3[-1]; method: gradcam++' in stdout
    for args, message in [
        (('--method', 'nope'), '--method must be one of'),
        (('--target-layers', 'backbone.nope'), "has no submodule 'nope'"),
        (('--target-category', '1', '2', '3'), 'one class or one per image'),
    ]:
        code, _, err = run_tool(
            monkeypatch, capsys, *digits, QUICKSTART, checkpoint, '--save-path', out, *args
        )
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    code, _, err = run_tool(
        monkeypatch, capsys, tmp_path / 'no.png', QUICKSTART, checkpoint, '--save-path', out
    )
    assert code == 2 and len(err.strip().splitlines()) == 1, err
