"""inject_attention / AttentionInjected: attention after named submodules of any backbone."""

import copy

import pytest
import torch
import torch.nn as nn
from mmengine.registry import DefaultScope
from mmpretrain.models.backbones.resnet import ResNet

from se_plugin.models import SELayer, SEResNet, inject_attention
from se_plugin.models.inject import INJECTED, infer_channels, match_modules
from se_plugin.models.layers import ATTENTION_LAYERS
from se_plugin.registry import MODELS

SE = dict(type='se_plugin.SELayer', ratio=4)
# every built-in slot module but SE (tested on its own here) at its defaults
ZOO = tuple(name for name in ATTENTION_LAYERS if name != 'SELayer')


def small_resnet(depth=18, **kwargs):
    return ResNet(depth, stem_channels=16, base_channels=16, out_indices=(0, 1, 2, 3), **kwargs)


def test_fnmatch_and_regex_patterns_in_model_order():
    model = small_resnet()
    assert match_modules(model, 'layer*.*.bn2') == [
        f'layer{s}.{b}.bn2' for s in range(1, 5) for b in range(2)
    ]
    assert match_modules(model, ['layer4.1.conv2', 're:layer[12]\\.0\\.bn\\d']) == [
        'layer1.0.bn1',
        'layer1.0.bn2',
        'layer2.0.bn1',
        'layer2.0.bn2',
        'layer4.1.conv2',
    ]


def test_channels_inferred_from_conv_norm_attribute_and_stage():
    model = small_resnet()
    assert infer_channels(model.layer2[0].conv1) == 32  # Conv2d.out_channels
    assert infer_channels(model.layer2[0].bn1) == 32  # BatchNorm.num_features
    assert infer_channels(nn.GroupNorm(4, 24)) == 24
    assert infer_channels(model.layer3[0]) == 64  # BasicBlock.out_channels
    assert infer_channels(model.layer4) == 128  # a stage: its last block
    assert infer_channels(model.layer1[0].relu) is None
    names = inject_attention(model, SE, ['layer*.0.conv1', 'layer*.1.bn2', 'layer4'])
    got = {name: model.injected_attention[name.replace('.', '_')].in_channels for name in names}
    assert got['layer1.0.conv1'] == 16 and got['layer3.1.bn2'] == 64 and got['layer4'] == 128


def test_output_is_the_attention_applied_to_the_module_output():
    torch.manual_seed(0)
    conv = nn.Sequential()
    conv.add_module('a', nn.Conv2d(3, 8, 3, padding=1))
    conv.add_module('b', nn.Conv2d(8, 8, 1))
    model = nn.Module()
    model.body = conv
    inject_attention(model, SE, 'body.a')
    se = model.injected_attention['body_a']
    x = torch.rand(2, 3, 6, 6)
    assert torch.allclose(model.body(x), conv.b(se(conv.a.forward(x))))
    assert isinstance(se, SELayer) and se.in_channels == 8


@pytest.mark.parametrize('name', ('SELayer',) + ZOO)
def test_every_module_injects_and_trains(name):
    """Each module after each basic block's bn2: its output is the module applied to
    the bn2 output, and the gradients reach it (parameter-free ones still run)."""
    torch.manual_seed(0)
    model = small_resnet()
    names = inject_attention(model, dict(type=f'se_plugin.{name}'), 'layer*.*.bn2')
    modules = model.injected_attention
    assert len(names) == len(modules) == 8
    assert all(type(m) is MODELS.get(f'se_plugin.{name}') for m in modules.values())
    assert [m.in_channels for m in modules.values()] == [16, 16, 32, 32, 64, 64, 128, 128]
    block = model.layer3[1]
    model.eval()
    with torch.no_grad():
        h = block.conv2(block.relu(block.bn1(block.conv1(torch.rand(2, 64, 4, 4)))))
        expected = modules['layer3_1_bn2'](block.bn2.forward(h))  # forward(): no hook
        assert torch.allclose(block.bn2(h), expected)
    model.train()
    sum(o.mean() for o in model(torch.rand(2, 3, 32, 32))).backward()
    for key, module in modules.items():
        grads = [p.grad for p in module.parameters()]  # none for SimAM
        assert all(g is not None and torch.isfinite(g).all() for g in grads), key
        assert not grads or any(g.abs().sum() > 0 for g in grads), key


def test_injected_resnet18_equals_se_resnet18():
    """SE after each basic block's bn2 is SE-ResNet's 'standard' position: same function."""
    torch.manual_seed(0)
    ours = SEResNet(18, attn_cfg=SE, out_indices=(3,)).eval()
    injected = MODELS.build(
        dict(
            type='se_plugin.AttentionInjected',
            backbone=dict(type='ResNet', depth=18, out_indices=(3,)),
            attention=SE,
            after='layer*.*.bn2',
        )
    )
    assert type(injected) is ResNet
    state = {}
    for key, value in ours.state_dict().items():
        if '.attn.' in key:
            block, param = key.split('.attn.')
            key = f'{INJECTED}.{block.replace(".", "_")}_bn2.{param}'
        state[key] = value
    injected.load_state_dict(state, strict=True)
    injected.eval()
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(injected(x)[0], ours(x)[0], atol=1e-6)


def test_plain_checkpoints_still_load():
    plain = small_resnet()
    model = small_resnet()
    inject_attention(model, SE, 'layer*.*.bn2')
    missing, unexpected = model.load_state_dict(plain.state_dict(), strict=False)
    assert unexpected == []
    assert missing and all(k.startswith(INJECTED + '.') for k in missing)


def test_deepcopy_keeps_each_copy_on_its_own_attention():
    model = small_resnet()
    inject_attention(model, dict(SE, return_weight=False), 'layer4.1.bn2')
    model.eval()
    twin = copy.deepcopy(model)
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        before = model(x)[-1].clone()
        twin.injected_attention['layer4_1_bn2'].fc2.bias.fill_(-50.0)  # gate ~ 0 in the twin
        assert torch.allclose(model(x)[-1], before)
        assert not torch.allclose(twin(x)[-1], before)


def test_gradients_reach_the_injected_modules():
    model = small_resnet()
    inject_attention(model, SE, 'layer*.*.bn2')
    model.train()
    sum(o.mean() for o in model(torch.rand(2, 3, 32, 32))).backward()
    for name, module in model.injected_attention.items():
        assert module.fc1.weight.grad is not None and module.fc1.weight.grad.abs().sum() > 0, name


def test_unmatched_pattern_lists_real_names():
    with pytest.raises(
        ValueError,
        match=r"matches no submodule of ResNet; module names look like: 'layer\d\.\d\.conv[12]'",
    ):
        inject_attention(small_resnet(), SE, 'layer*.*.conv3')


def test_uninferable_channels_name_the_module_and_suggest_in_channels():
    model = small_resnet()
    with pytest.raises(ValueError, match=r"'maxpool' \(MaxPool2d.*in_channels=\.\.\."):
        inject_attention(model, SE, 'maxpool')
    assert not hasattr(model, INJECTED)  # nothing changed
    inject_attention(model, dict(SE, in_channels=16), 'maxpool')
    assert model.injected_attention['maxpool'].in_channels == 16
    model.eval()
    assert model(torch.rand(1, 3, 32, 32))[0].shape == (1, 16, 8, 8)


def test_repeats_are_refused():
    model = small_resnet()
    inject_attention(model, SE, 'layer1.0.bn2')
    with pytest.raises(ValueError, match='already has injected attention'):
        inject_attention(model, SE, 'layer1.*.bn2')
    assert list(model.injected_attention) == ['layer1_0_bn2']


@pytest.mark.parametrize(
    'attention, after, match',
    [
        (dict(ratio=4), 'layer1', "a 'type'"),
        ('SELayer', 'layer1', "a 'type'"),
        (SE, [], 'non-empty list'),
        (SE, 3, 'module-name pattern'),
    ],
)
def test_bad_arguments(attention, after, match):
    with pytest.raises(TypeError, match=match):
        inject_attention(small_resnet(), attention, after)


def test_bare_containers_are_refused():
    with pytest.raises(TypeError, match='bare Sequential'):
        inject_attention(nn.Sequential(nn.Conv2d(3, 8, 1)), SE, '0')


def test_attention_injected_in_a_classifier_trains():
    cfg = dict(
        type='ImageClassifier',
        backbone=dict(
            type='se_plugin.AttentionInjected',
            backbone=dict(type='DenseNet', arch='121'),
            attention=dict(type='se_plugin.SELayer', ratio=16),
            after='stages.*.block.*.conv2',
        ),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=3, in_channels=1024),
    )
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        from mmpretrain.registry import MODELS as MMPRETRAIN_MODELS

        model = MMPRETRAIN_MODELS.build(cfg)
    assert len(model.backbone.injected_attention) == 6 + 12 + 24 + 16
    assert {m.in_channels for m in model.backbone.injected_attention.values()} == {32}
    losses = model.loss(torch.rand(2, 3, 32, 32), [_sample(0), _sample(2)])
    losses['loss'].backward()
    assert model.backbone.injected_attention['stages_3_block_15_conv2'].fc1.weight.grad is not None


def _sample(label):
    from mmpretrain.structures import DataSample

    return DataSample().set_gt_label(label)
