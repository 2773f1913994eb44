"""Checkpoints written by real (tiny) training runs load with the allow-list alone.

Every checkpoint kind our runs write is produced by mmengine's Runner on the
embedded MNIST-5k digits and read back through ``torch.load(weights_only=True)``
plus the allow-list of :mod:`se_plugin.runtime.checkpoint` (and resumed or
tested through the tools' code): plain, with ``EMAHook``, with
``save_best='auto'``, and with ``AmpOptimWrapper``.

AMP: mmengine's ``AmpOptimWrapper`` asserts CUDA and uses
``torch.cuda.amp.GradScaler``. Here it is built on CPU with the assert lifted
and torch's device-generic ``torch.amp.GradScaler('cpu')`` in place of the CUDA
scaler (bf16 autocast); the wrapper code that writes and reads the checkpoint
is mmengine's own. A CUDA ``GradScaler.state_dict()`` has the same five keys,
all plain floats/ints (checked below), so nothing beyond the allow-list is
needed on GPU either (not run here: this machine has no GPU).
"""

import functools
import itertools

import pytest
import torch
from mmengine.optim.optimizer import amp_optimizer_wrapper

from se_plugin.cli import build_runner, prepare_test_config, prepare_train_config
from se_plugin.runtime.checkpoint import load_checkpoint_file

pytestmark = pytest.mark.slow

QUICKSTART = 'configs/quickstart/se_resnet18_mnist5k.py'
_names = itertools.count()


def _options(**extra):
    options = {
        # 16 training images of all ten digits (the split is sorted by class)
        'train_dataloader.dataset.indices': list(range(0, 4000, 250)),
        'train_dataloader.batch_size': 8,
        'val_dataloader.dataset.indices': list(range(0, 1000, 100)),
        'train_cfg.max_epochs': 1,
        'train_cfg.val_interval': 1,
        'default_hooks.logger.interval': 1,
        # distinct names: several Runners in one process
        'experiment_name': f'real_ckpt_{next(_names)}',
    }
    options.update(extra)
    return options


def _train(work_dir, resume=None, **extra):
    cfg = prepare_train_config(
        QUICKSTART, work_dir=str(work_dir), resume=resume, cfg_options=_options(**extra)
    )
    runner = build_runner(cfg)
    runner.train()
    return runner


def _assert_plain_types(obj):
    """Only containers, str/numbers and tensors: what weights_only loads by itself."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            _assert_plain_types(k)
            _assert_plain_types(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            _assert_plain_types(v)
    else:
        assert obj is None or isinstance(obj, (str, int, float, bool, torch.Tensor)), type(obj)


def test_plain_checkpoint_loads_resumes_and_tests(tmp_path, repo_root, monkeypatch):
    monkeypatch.chdir(repo_root)
    _train(tmp_path)
    ckpt = load_checkpoint_file(str(tmp_path / 'epoch_1.pth'))
    assert {'meta', 'state_dict', 'message_hub', 'optimizer', 'param_schedulers'} <= set(ckpt)
    # resume for a second epoch from the explicit path
    runner = _train(tmp_path, resume=str(tmp_path / 'epoch_1.pth'), **{'train_cfg.max_epochs': 2})
    assert runner.epoch == 2 and (tmp_path / 'epoch_2.pth').is_file()
    cfg = prepare_test_config(
        QUICKSTART,
        str(tmp_path / 'epoch_2.pth'),
        work_dir=str(tmp_path / 'test'),
        cfg_options={
            'test_dataloader.dataset.indices': list(range(0, 1000, 100)),
            'experiment_name': f'real_ckpt_{next(_names)}',
        },
    )
    metrics = build_runner(cfg).test()
    assert 0.0 <= metrics['accuracy/top1'] <= 100.0


def test_ema_checkpoint_loads_and_resumes(tmp_path, repo_root, monkeypatch):
    monkeypatch.chdir(repo_root)
    _train(tmp_path, custom_hooks=[dict(type='EMAHook', momentum=0.01)])
    ckpt = load_checkpoint_file(str(tmp_path / 'epoch_1.pth'))
    assert any(key.startswith('module.') for key in ckpt['ema_state_dict'])
    runner = _train(
        tmp_path,
        resume='auto',
        custom_hooks=[dict(type='EMAHook', momentum=0.01)],
        **{'train_cfg.max_epochs': 2},
    )
    assert runner.epoch == 2
    assert 'ema_state_dict' in load_checkpoint_file(str(tmp_path / 'epoch_2.pth'))


def test_save_best_checkpoint_loads_and_tests(tmp_path, repo_root, monkeypatch):
    monkeypatch.chdir(repo_root)
    _train(tmp_path, **{'default_hooks.checkpoint.save_best': 'auto'})
    (best,) = tmp_path.glob('best_accuracy_top1_epoch_1.pth')
    ckpt = load_checkpoint_file(str(best))
    assert 'optimizer' not in ckpt and 'state_dict' in ckpt
    hub = load_checkpoint_file(str(tmp_path / 'epoch_1.pth'))['message_hub']['runtime_info']
    assert hub['best_ckpt'] == str(best)
    cfg = prepare_test_config(
        QUICKSTART,
        str(best),
        work_dir=str(tmp_path / 'test'),
        cfg_options={
            'test_dataloader.dataset.indices': list(range(0, 1000, 100)),
            'experiment_name': f'real_ckpt_{next(_names)}',
        },
    )
    assert 'accuracy/top1' in build_runner(cfg).test()


@pytest.fixture
def amp_on_cpu(monkeypatch):
    """mmengine's AmpOptimWrapper on CPU: assert lifted, torch.amp's CPU GradScaler."""
    monkeypatch.setattr(amp_optimizer_wrapper, 'is_cuda_available', lambda: True)
    monkeypatch.setattr(
        amp_optimizer_wrapper, 'GradScaler', functools.partial(torch.amp.GradScaler, 'cpu')
    )


def test_amp_checkpoint_loads_and_resumes(tmp_path, repo_root, monkeypatch, amp_on_cpu):
    monkeypatch.chdir(repo_root)
    amp = {'optim_wrapper.type': 'AmpOptimWrapper', 'optim_wrapper.loss_scale': 'dynamic'}
    runner = _train(tmp_path, **amp)
    assert type(runner.optim_wrapper).__name__ == 'AmpOptimWrapper'
    ckpt = load_checkpoint_file(str(tmp_path / 'epoch_1.pth'))
    scaler = ckpt['optimizer']['loss_scaler']
    assert set(scaler) == {
        'scale',
        'growth_factor',
        'backoff_factor',
        'growth_interval',
        '_growth_tracker',
    }
    _assert_plain_types(scaler)
    assert scaler['_growth_tracker'] == 2  # two finite steps since the last scale change
    runner = _train(tmp_path, resume='auto', **amp, **{'train_cfg.max_epochs': 2})
    assert runner.epoch == 2
    resumed = load_checkpoint_file(str(tmp_path / 'epoch_2.pth'))['optimizer']['loss_scaler']
    assert resumed['_growth_tracker'] == 4 and resumed['scale'] == scaler['scale']


def test_cuda_grad_scaler_writes_the_same_state():
    """On GPU AmpOptimWrapper uses torch.cuda.amp.GradScaler: the same state_dict code."""
    cuda_scaler = torch.cuda.amp.GradScaler
    assert issubclass(cuda_scaler, torch.amp.GradScaler)
    assert cuda_scaler.state_dict is torch.amp.GradScaler.state_dict
    assert cuda_scaler.load_state_dict is torch.amp.GradScaler.load_state_dict
