"""Small helpers shared by the tests (tests/ is on sys.path)."""

import glob
import io
import os
import re
import runpy
import shutil
import subprocess
import sys
from dataclasses import dataclass

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


def git(repo, *args) -> str:
    """``git args`` in ``repo`` (with an author, for commits); its stdout."""
    cmd = ['git', '-c', 'user.name=readme', '-c', 'user.email=readme@test', *args]
    return subprocess.run(cmd, cwd=repo, capture_output=True, text=True, check=True).stdout


def scratch_checkout(dst) -> str:
    """A :func:`copy_checkout` at ``dst`` made a git repository of its own, all of it
    committed, so that :func:`assert_clean` sees what commands change there.

    Returns:
        str: ``dst``.
    """
    copy_checkout(dst)
    git(dst, 'init', '-q')
    git(dst, 'add', '-A')
    git(dst, 'commit', '-q', '-m', 'scratch copy')
    return str(dst)


# what commands run in a scratch checkout may write: their outputs, pip's build folders
ALLOWED_IGNORED = ('work_dirs/', 'build/', 'se_plugin.egg-info/', 'se_plugin/.mim/')


def assert_clean(repo, what: str):
    """Fail unless the :func:`scratch_checkout` ``repo`` has its committed files as they
    were and nothing new outside ``ALLOWED_IGNORED`` (``what`` names the commands)."""
    status = git(repo, 'status', '--porcelain', '--ignored').splitlines()
    changed = [s for s in status if not s.startswith('!! ')]
    assert not changed, f'{what} changed committed files: {changed}'
    stray = [
        s[3:] for s in status
        if s.startswith('!! ') and not s[3:].startswith(ALLOWED_IGNORED) and '__pycache__' not in s
    ]  # fmt: skip
    assert not stray, f'{what} wrote outside work_dirs/: {stray}'


# ----------------------------------------------------------------- the README's and docs' blocks


@dataclass(frozen=True)
class Block:
    """A bash block of README.md or docs/*.md."""

    path: str  # relative to the repository
    line: int  # of the opening fence
    section: str  # the ``## `` heading it stands under ('' before the first)
    text: str

    @property
    def id(self) -> str:
        return f'{self.path}:{self.line}'


FENCE = re.compile(r'^```(\w*)\n(.*?)^```', flags=re.S | re.M)


def bash_blocks() -> list:
    """The bash blocks of README.md and docs/*.md, in order (README first)."""
    docs = sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, 'docs', '*.md')))
    blocks = []
    for path in ['README.md', *docs]:
        with open(os.path.join(ROOT, path), encoding='utf-8') as f:
            text = f.read()
        section, start = '', 0
        for fence in FENCE.finditer(text):  # headings between fences only
            headings = re.findall(r'^## (.+)$', text[start : fence.start()], flags=re.M)
            section, start = (headings[-1] if headings else section), fence.end()
            if fence.group(1) in ('bash', 'sh', 'shell'):
                line = text[: fence.start()].count('\n') + 1
                blocks.append(Block(path, line, section, fence.group(2)))
    return blocks


def readme_blocks(section: str) -> list:
    """The text of each bash block of the README section headed ``## section``, in order."""
    return [b.text for b in bash_blocks() if b.path == 'README.md' and b.section == section]


def run_in_fresh_shell(repo, script: str, timeout: float = 4 * 3600):
    """Run ``script`` in ``repo`` (e.g. a :func:`scratch_checkout`) in a fresh shell
    (:func:`fresh_shell_env`, ``set -eo pipefail``); the completed process, its output
    captured as text."""
    return subprocess.run(
        ['bash', '-c', f'set -eo pipefail\n{script}'],
        cwd=repo,
        env=fresh_shell_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_readme_blocks(blocks: list, repo, activate: bool = True) -> list:
    """Run README bash ``blocks`` in order in ``repo``, each in :func:`run_in_fresh_shell`
    after entering the pinned environment (``source tools/activate.sh``) unless not
    ``activate``; each block's stdout. A failing block fails the test, with its output."""
    enter = 'source tools/activate.sh 2>/dev/null\n' if activate else ''
    outputs = []
    for i, block in enumerate(blocks):
        run = run_in_fresh_shell(repo, enter + block)
        if run.returncode:
            output = run.stdout[-3000:] + run.stderr[-3000:]
            pytest.fail(f'README block {i + 1} exited {run.returncode}:\n{output}')
        outputs.append(run.stdout)
    return outputs
