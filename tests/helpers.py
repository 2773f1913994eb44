"""Small helpers shared by the tests (tests/ is on sys.path)."""

import io
import os
import runpy
import shutil
import subprocess
import sys

import pytest
import torch


def classifier(backbone: dict, in_channels: int, num_classes: int = 1000) -> dict:
    """An mmpretrain ImageClassifier config around ``backbone`` (for param counts)."""
    return dict(
        type='ImageClassifier',
        backbone=backbone,
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=num_classes, in_channels=in_channels),
    )


def num_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def run_script(path: str, monkeypatch, capsys, *args) -> tuple:
    """Run the tool script ``path`` in this process: (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, 'argv', [path, *map(str, args)])
    monkeypatch.delenv('SE_PLUGIN_DEBUG', raising=False)
    with pytest.raises(SystemExit) as exc:
        runpy.run_path(path, run_name='__main__')
    out, err = capsys.readouterr()
    return exc.value.code, out, err


def timm_resnet50_params(attn_layer=None) -> int:
    """Parameters of timm's ``resnet50`` (1000 classes) with ``attn_layer`` in each bottleneck."""
    import timm

    block_args = None if attn_layer is None else dict(attn_layer=attn_layer)
    return num_params(timm.create_model('resnet50', block_args=block_args))


def resnet50_params(attn_cfg) -> int:
    """Parameters of our SE-ResNet-50 classifier (1000 classes) with ``attn_cfg`` in its slot."""
    from se_plugin.registry import MODELS

    backbone = dict(type='se_plugin.SEResNet', depth=50, attn_cfg=attn_cfg)
    return num_params(MODELS.build(classifier(backbone, 2048)))


# the output channels of ResNet-50's bottlenecks, block by block (3, 4, 6, 3 blocks)
RESNET50_BLOCK_CHANNELS = (256,) * 3 + (512,) * 4 + (1024,) * 6 + (2048,) * 3


# ----------------------------------------------------------------- a tiny real sweep

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUICKSTART = os.path.join(ROOT, 'configs', 'quickstart', 'se_resnet18_mnist5k.py')

# 64 training and 50 test digits spread over all classes (the file is sorted by label),
# a log line per iteration, and two checkpoints kept (to fake an interruption)
TINY_OPTIONS = {
    'train_dataloader.dataset.indices': list(range(0, 4000, 62))[:64],
    'train_dataloader.batch_size': 32,
    'test_dataloader.dataset.indices': list(range(0, 1000, 20)),
    'test_dataloader.batch_size': 25,
    'default_hooks.logger.interval': 1,
    'default_hooks.checkpoint.max_keep_ckpts': 2,
}
TINY_SWEEP = ['model.backbone.attn_cfg.ratio=2,8']


def plan_tiny(work_dir, **kwargs):
    """:func:`se_plugin.sweep.plan_sweep` of the tiny sweep (2 points, 2 epochs)."""
    from se_plugin.sweep import plan_sweep

    kwargs.setdefault('sweeps', TINY_SWEEP)
    kwargs.setdefault('max_epochs', 2)
    kwargs.setdefault('cfg_options', TINY_OPTIONS)
    return plan_sweep(QUICKSTART, work_dir=str(work_dir), **kwargs)


def run_plan(plan):
    """execute() with its progress captured: (outcome, progress text)."""
    from se_plugin.sweep import execute

    stream = io.StringIO()
    outcome = execute(plan, stream=stream, command='python tools/ablate.py (test)')
    return outcome, stream.getvalue()


# ----------------------------------------------------------------- image files


def digit_files(folder, count: int = 6) -> tuple:
    """The first ``count`` MNIST-5k test digits as grey PNGs, and the samples."""
    import numpy as np
    from PIL import Image

    from se_plugin.datasets import MNIST5k

    dataset = MNIST5k(split='test', indices=count)
    paths = []
    for i in range(count):
        sample = dataset.get_data_info(i)
        path = folder / f'digit{i}_{sample["gt_label"]}.png'
        Image.fromarray(np.ascontiguousarray(sample['img'][..., 0])).save(path)
        paths.append(str(path))
    return paths, [dataset.get_data_info(i) for i in range(count)]


# ----------------------------------------------------------------- a fresh copy of the checkout


def copy_checkout(dst) -> str:
    """Copy this checkout as a fresh clone of it would be, with the working tree's changes:
    the tracked files and the untracked ones git does not ignore (no work_dirs/, no build
    outputs). Tests that build, install or run commands work there, never in the checkout.

    Returns:
        str: ``dst``.
    """
    listed = subprocess.run(
        ['git', 'ls-files', '-z', '--cached', '--others', '--exclude-standard'],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for rel in filter(None, listed.split('\0')):
        src = os.path.join(ROOT, rel)
        if not os.path.lexists(src):  # deleted in the working tree
            continue
        target = os.path.join(dst, rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy2(src, target, follow_symlinks=False)
    return str(dst)


def fresh_shell_env() -> dict:
    """The environment of a fresh shell: no pinned python on PATH, no checkout on
    PYTHONPATH (what the README's commands start from)."""
    drop = ('PYTHONPATH', 'SE_PLUGIN_PY', 'SE_PLUGIN_ROOT', 'SE_PLUGIN_DEBUG', 'VIRTUAL_ENV')
    env = {k: v for k, v in os.environ.items() if k not in drop}
    venv_bin = os.path.dirname(os.path.abspath(sys.executable))
    env['PATH'] = os.pathsep.join(p for p in env['PATH'].split(os.pathsep) if p != venv_bin)
    return env
