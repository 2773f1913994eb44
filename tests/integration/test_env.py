"""The integration environment: full mmcv with compiled ops, mmdet and mmseg as pinned,
and mmengine's ``mmdet::`` / ``mmseg::`` package bases."""

import importlib.metadata
import os

import pytest

mmdet = pytest.importorskip('mmdet', reason='integration env only (tools/run_integration_tests.sh)')
mmseg = pytest.importorskip('mmseg', reason='integration env only (tools/run_integration_tests.sh)')

from tests.conftest import REPO_ROOT  # noqa: E402


def pins(path):
    pinned = {}
    with open(path) as f:
        for line in f:
            line = line.split('#')[0].strip()
            if '==' in line:
                name, version = line.split('==')
                pinned[name.strip().lower()] = version.strip()
    return pinned


@pytest.mark.skipif(
    os.environ.get('SE_PLUGIN_INTEGRATION_ENV') == 'own',
    reason="SE_PLUGIN_INTEGRATION_PY: the user's own environment, not the pinned one",
)
def test_installed_versions_are_the_pinned_ones():
    req = os.path.join(REPO_ROOT, 'requirements')
    pinned = {**pins(os.path.join(req, 'base.txt')), **pins(os.path.join(req, 'integration.txt'))}
    del pinned['mmcv-lite']  # replaced by full mmcv here
    for name, version in pinned.items():
        assert importlib.metadata.version(name) == version, name
    with pytest.raises(importlib.metadata.PackageNotFoundError):
        importlib.metadata.version('mmcv-lite')  # never beside full mmcv


def test_mmcv_has_compiled_cpu_ops():
    import torch
    from mmcv.ops import RoIAlign, nms

    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 11.0, 11.0], [20, 20, 30, 30]])
    _, keep = nms(boxes, torch.tensor([0.9, 0.8, 0.7]), iou_threshold=0.5)
    assert keep.tolist() == [0, 2]
    feats = torch.arange(16.0).view(1, 1, 4, 4)
    out = RoIAlign((2, 2), spatial_scale=1.0, sampling_ratio=1, aligned=False)(
        feats, torch.tensor([[0.0, 0.0, 0.0, 3.0, 3.0]])
    )
    assert out.shape == (1, 1, 2, 2)


def test_model_packages_import():
    import mmdet.models  # noqa: F401
    import mmseg.models  # noqa: F401


@pytest.mark.parametrize(
    'base',
    [
        'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py',
        'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py',
        'mmseg::sem_fpn/fpn_r50_4xb4-160k_ade20k-512x512.py',
        'mmseg::fcn/fcn_r50-d8_4xb2-40k_cityscapes-512x1024.py',
    ],
)
def test_package_relative_bases_resolve(tmp_path, base):
    from mmengine.config import Config

    path = tmp_path / 'cfg.py'
    path.write_text(f'_base_ = {base!r}\n')
    cfg = Config.fromfile(str(path))
    assert cfg.model.backbone.depth == 50
