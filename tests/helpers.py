"""Small helpers shared by the tests (tests/ is on sys.path)."""

import io
import os
import re
import runpy
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


def readme_blocks(section: str, language: str = 'bash') -> list:
    """The ```language blocks of the README section headed ``## section``, in order."""
    with open(os.path.join(ROOT, 'README.md'), encoding='utf-8') as f:
        text = f.read()
    start = text.index(f'\n## {section}\n')
    end = text.find('\n## ', start + 1)
    body = text[start : None if end < 0 else end]
    return re.findall(rf'^```{language}\n(.*?)^```', body, flags=re.S | re.M)


def run_readme_blocks(blocks: list, cwd) -> list:
    """Run README bash ``blocks`` in order, each in its own ``bash -e``, in ``cwd`` laid out
    as a fresh clone (links to this checkout's configs/ and tools/, this checkout first
    on PYTHONPATH as ``tools/activate.sh`` puts it); each block's stdout. A failing block
    fails the test, with its output."""
    for name in ('configs', 'tools'):
        if not os.path.lexists(os.path.join(cwd, name)):
            os.symlink(os.path.join(ROOT, name), os.path.join(cwd, name))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.environ.get('PYTHONPATH', '')]))
    outputs = []
    for i, block in enumerate(blocks):
        run = subprocess.run(
            ['bash', '-e', '-c', block], cwd=cwd, env=env, capture_output=True, text=True
        )
        if run.returncode:
            pytest.fail(
                f'README block {i + 1} failed ({run.returncode}):\n{run.stdout}{run.stderr}'
            )
        outputs.append(run.stdout)
    return outputs
