"""What every backbone shares: the deprecated se_* names, the slot modules' own init."""

import warnings

import pytest
import torch
from mmengine.config import Config
from mmengine.runner.checkpoint import load_state_dict

from se_plugin.cli import load_config
from se_plugin.models import (
    GlobalContext,
    SEBasicBlock,
    SEBottleneck,
    SEDenseNet,
    SEResNet,
    SEResNeXt,
    SKBlock,
    SKNet,
)
from se_plugin.models.builder import build_model
from se_plugin.registry import MODELS
from se_plugin.runtime.errors import ConfigError

SE = dict(type='se_plugin.SELayer', ratio=4)
TINY = dict(stem_channels=8, base_channels=8, stem_type='cifar', out_indices=(3,))
DENSE = dict(growth_rate=4, depths=[2, 2], init_channels=8)
# (class, required arguments, the se_* names it takes)
OWNERS = [
    (SEResNet, dict(depth=18, **TINY), ('se_cfg', 'se_position', 'se_stages')),
    (SEResNeXt, dict(depth=50, groups=2, **TINY), ('se_cfg', 'se_position', 'se_stages')),
    (SKNet, dict(depth=26, groups=2, min_channels=4, **TINY), ('se_cfg', 'se_position')),
    (SEDenseNet, dict(arch=DENSE), ('se_cfg', 'se_stages')),
    (SEBasicBlock, dict(in_channels=8, out_channels=8), ('se_cfg', 'se_position')),
    (SEBottleneck, dict(in_channels=32, out_channels=32), ('se_cfg', 'se_position')),
    (
        SKBlock,
        dict(in_channels=32, out_channels=32, groups=2, base_channels=8, min_channels=4),
        ('se_cfg',),
    ),
]
OLD_VALUES = dict(se_cfg=SE, se_position='standard', se_stages=None)


def _build(cls, kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        model = cls(**kwargs)
    return model, [w for w in caught if issubclass(w.category, FutureWarning)]


@pytest.mark.parametrize('cls, required, names', OWNERS, ids=lambda v: getattr(v, '__name__', ''))
def test_se_names_build_the_same_model_with_one_warning(cls, required, names):
    old = {name: OLD_VALUES[name] for name in names}
    if cls is SEDenseNet:
        old['se_stages'] = (True, True)
    new = {name.replace('se_', 'attn_'): value for name, value in old.items()}
    torch.manual_seed(0)
    model, caught = _build(cls, dict(required, **old))
    torch.manual_seed(0)
    expected, none = _build(cls, dict(required, **new))
    assert not none
    assert len(caught) == 1  # one line per build, not one per block
    message = str(caught[0].message)
    assert message.startswith(f'{cls.__name__}: ') and all(n in message for n in old)
    assert all(n in message for n in new)
    assert model.state_dict().keys() == expected.state_dict().keys()
    for key, value in expected.state_dict().items():
        torch.testing.assert_close(model.state_dict()[key], value, msg=key)


@pytest.mark.parametrize('cls, required, names', OWNERS, ids=lambda v: getattr(v, '__name__', ''))
def test_old_and_new_name_together_is_an_error(cls, required, names):
    with pytest.raises(ValueError, match=r'got both se_cfg and attn_cfg; .* give only attn_cfg'):
        cls(**required, se_cfg=SE, attn_cfg=SE)


def test_a_cfg_options_override_with_the_old_name_says_to_use_the_new_one(repo_root):
    """mmengine's merge adds se_cfg beside the config's attn_cfg; ours says so up front."""
    path = f'{repo_root}/configs/se_resnet50_imagenet.py'
    cfg = Config.fromfile(path)
    cfg.merge_from_dict({'model.backbone.se_cfg.ratio': 8})  # mmdet's / mim's tools
    with pytest.raises(ValueError, match=r'give only attn_cfg .*model\.backbone\.attn_cfg'):
        build_model(cfg.model.backbone)
    with pytest.raises(ConfigError, match=r'se_cfg is the deprecated name of attn_cfg: use '):
        load_config(path, {'model.backbone.se_cfg.ratio': 8})
    cfg = load_config(path, {'model.backbone.se_position': 'post'})  # a new leaf
    with pytest.raises(ValueError, match='give only attn_position'):
        build_model(cfg.model.backbone)


def test_an_old_config_builds_and_trains():
    """A config written with se_cfg / se_position / se_stages (one warning) trains."""
    model_cfg = dict(
        type='ImageClassifier',
        backbone=dict(
            type='se_plugin.SEResNet',
            depth=18,
            in_channels=1,
            se_cfg=dict(type='se_plugin.CBAM', ratio=4),
            se_position='standard',
            se_stages=(False, True, True, True),
            **TINY,
        ),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=3, in_channels=64),
    )
    with pytest.warns(FutureWarning, match='se_cfg, se_position, se_stages are deprecated'):
        model = build_model(model_cfg)
    assert model.backbone.layer1[0].attn is None
    assert type(model.backbone.layer2[0].attn).__name__ == 'CBAM'
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.rand(4, 1, 16, 16), torch.tensor([0, 1, 2, 0])
    losses = []
    for _ in range(3):
        loss = torch.nn.functional.cross_entropy(model(x, mode='tensor'), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert all(torch.isfinite(torch.tensor(losses))) and losses[-1] < losses[0]


def _as_old_keys(state: dict) -> dict:
    return {key.replace('.attn.', '.se.'): value for key, value in state.items()}


@pytest.mark.parametrize(
    'build',
    [
        lambda: SEResNet(18, **TINY),
        lambda: SKNet(26, groups=2, min_channels=4, attn_cfg=SE, **TINY),
        lambda: MODELS.build(
            dict(
                type='ImageClassifier',
                backbone=dict(type='se_plugin.SEResNet', depth=18, **TINY),
                neck=dict(type='GlobalAveragePooling'),
                head=dict(type='LinearClsHead', num_classes=3, in_channels=64),
            )
        ),
    ],
    ids=['se_resnet18', 'sknet26+se', 'classifier'],
)
def test_a_checkpoint_with_se_keys_loads_strictly(build):
    torch.manual_seed(0)
    source = build()
    state = _as_old_keys(source.state_dict())
    assert any('.se.' in key for key in state) and not any('.attn.' in key for key in state)
    for load in ('torch', 'mmengine'):
        torch.manual_seed(1)
        target = build()
        if load == 'torch':
            target.load_state_dict(state, strict=True)
        else:
            load_state_dict(target, dict(state), strict=True)
        for key, value in source.state_dict().items():
            torch.testing.assert_close(target.state_dict()[key], value, msg=f'{load}: {key}')
    assert any('.se.' in key for key in state)  # the caller's dict is left as it was


def test_attention_init_is_reapplied_after_the_backbones(monkeypatch):
    """GCNet's zero-initialised last conv survives the backbones' Kaiming init of every conv."""
    gc = dict(type='se_plugin.GlobalContext', ratio=1 / 4)
    for model in (
        SEResNet(18, attn_cfg=gc, init_cfg=dict(type='Kaiming', layer='Conv2d'), **TINY),
        SEDenseNet(arch=DENSE, attn_cfg=gc, init_cfg=dict(type='Kaiming', layer='Conv2d')),
    ):
        modules = [m for m in model.modules() if isinstance(m, GlobalContext)]
        for m in modules:
            torch.nn.init.normal_(m.fc2.weight)
        model.init_weights()
        assert modules and all(not m.fc2.weight.any() for m in modules)
