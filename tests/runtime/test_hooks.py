"""se_plugin.runtime.hooks: ChannelsLastHook, and the channels-last / compile configs."""

from types import SimpleNamespace

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import DefaultScope

from se_plugin.registry import HOOKS, MODELS
from se_plugin.runtime.hooks import (
    ChannelsLastHook,
    NonFiniteLossError,
    NonFiniteLossHook,
    to_channels_last,
)

CL = torch.channels_last


def tiny_classifier():
    return MODELS.build(
        dict(
            type='ImageClassifier',
            data_preprocessor=dict(type='ClsDataPreprocessor', mean=[0.0] * 3, std=[1.0] * 3),
            backbone=dict(type='se_plugin.SEResNet', depth=18, base_channels=8, stem_channels=8),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(type='LinearClsHead', num_classes=3, in_channels=64),
        )
    )


def test_hook_converts_model_and_preprocessed_batches():
    model = tiny_classifier()
    hook = HOOKS.build(dict(type='ChannelsLastHook'))
    assert isinstance(hook, ChannelsLastHook)
    hook.before_run(SimpleNamespace(model=model))
    convs = [p for p in model.parameters() if p.dim() == 4]
    assert convs and all(p.is_contiguous(memory_format=CL) for p in convs)
    batch = dict(inputs=[torch.randint(0, 255, (3, 16, 16), dtype=torch.uint8)] * 2)
    data = model.data_preprocessor(batch, False)
    assert data['inputs'].is_contiguous(memory_format=CL)
    out = model(data['inputs'], mode='tensor')
    assert out.shape == (2, 3)
    hook.after_run(SimpleNamespace(model=model))
    assert not model.data_preprocessor(batch, False)['inputs'].is_contiguous(memory_format=CL)


def test_hook_is_built_by_the_runner_registry_in_either_scope():
    """What mmengine's Runner does with ``custom_hooks`` under a config's default_scope."""
    for scope, name in (
        ('se_plugin', 'ChannelsLastHook'),
        ('mmpretrain', 'se_plugin.ChannelsLastHook'),
    ):
        with DefaultScope.overwrite_default_scope(scope):
            assert isinstance(MMENGINE_HOOKS.build(dict(type=name)), ChannelsLastHook)


def test_to_channels_last_walks_containers():
    x = torch.randn(2, 3, 4, 4)
    out = to_channels_last({'inputs': [x, x[0]], 'meta': ('a', x.view(2, 3, 16))})
    assert out['inputs'][0].is_contiguous(memory_format=CL)
    assert out['inputs'][1] is x[0] or out['inputs'][1].dim() == 3
    assert out['meta'][0] == 'a' and out['meta'][1].dim() == 3


def test_channels_last_and_compile_configs(repo_root):
    cl = Config.fromfile(f'{repo_root}/configs/speed/se_resnet50_channels_last_imagenet.py')
    assert any(h['type'].endswith('ChannelsLastHook') for h in cl.custom_hooks)
    compiled = Config.fromfile(f'{repo_root}/configs/speed/se_resnet50_compile_imagenet.py')
    assert compiled.compile in (True,) or isinstance(compiled.compile, dict)
    assert compiled.model.backbone.type == 'se_plugin.SEResNet'


def _fake_runner(lr=0.1):
    wrapper = SimpleNamespace(get_lr=lambda: {'lr': [lr]})
    return SimpleNamespace(epoch=2, iter=41, optim_wrapper=wrapper)


@pytest.mark.parametrize('value', [float('nan'), float('inf'), -float('inf')])
def test_nonfinite_loss_stops_training_naming_where(value):
    hook = NonFiniteLossHook()
    with pytest.raises(NonFiniteLossError, match=r'loss = .* at epoch 3, iteration 42 \(lr 0.1\)'):
        hook.after_train_iter(_fake_runner(), 0, outputs={'loss': torch.tensor(value)})


def test_finite_loss_and_other_outputs_pass():
    hook = NonFiniteLossHook()
    hook.after_train_iter(_fake_runner(), 0, outputs={'loss': torch.tensor(0.5), 'acc': 'x'})
    hook.after_train_iter(_fake_runner(), 0, outputs=None)


def test_nonfinite_loss_hook_is_on_by_default(repo_root):
    cfg = Config.fromfile(f'{repo_root}/configs/quickstart/se_resnet18_mnist5k.py')
    assert cfg.default_hooks.nonfinite_loss.type == 'se_plugin.NonFiniteLossHook'
    with pytest.raises(ValueError, match='interval'):
        NonFiniteLossHook(interval=0)
