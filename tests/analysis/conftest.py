"""A tiny real sweep (2 points, 2 epochs of 64 MNIST-5k images) shared by the analysis tests."""

import io
import os.path as osp

import pytest
import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
QUICKSTART = osp.join(ROOT, 'configs', 'quickstart', 'se_resnet18_mnist5k.py')

# 64 training and 50 test digits spread over all classes (the file is sorted by label),
# a log line per iteration (progress), and two checkpoints kept (to fake an interruption)
TINY_OPTIONS = {
    'train_dataloader.dataset.indices': list(range(0, 4000, 62))[:64],
    'train_dataloader.batch_size': 32,
    'test_dataloader.dataset.indices': list(range(0, 1000, 20)),
    'test_dataloader.batch_size': 25,
    'default_hooks.logger.interval': 1,
    'default_hooks.checkpoint.max_keep_ckpts': 2,
}
TINY_SWEEP = ['model.backbone.se_cfg.ratio=2,8']


def plan_tiny(work_dir, **kwargs):
    from se_plugin.analysis.ablation import plan_sweep

    kwargs.setdefault('sweeps', TINY_SWEEP)
    kwargs.setdefault('max_epochs', 2)
    kwargs.setdefault('cfg_options', TINY_OPTIONS)
    return plan_sweep(QUICKSTART, work_dir=str(work_dir), **kwargs)


def run_plan(plan):
    """execute() with its progress captured: (outcome, progress text)."""
    from se_plugin.analysis.ablation import execute

    stream = io.StringIO()
    outcome = execute(plan, stream=stream, command='python tools/ablate.py (test)')
    return outcome, stream.getvalue()


@pytest.fixture(scope='session')
def tiny_sweep(tmp_path_factory):
    """The finished tiny sweep: (plan, outcome, progress text)."""
    torch.set_num_threads(1)
    plan = plan_tiny(tmp_path_factory.mktemp('sweep') / 'work')
    outcome, text = run_plan(plan)
    return plan, outcome, text
