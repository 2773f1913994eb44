"""The models every semantic test runs on: each attention module, alone, in a block, in a backbone.

Every built-in slot module (``ATTENTION_LAYERS``, derived from the registry) is
tested with its default config, as a layer, in a bottleneck (every slot position for
``SELayer``, the standard one for the others) and in a small SE-ResNet, by
``tests/models/test_semantics.py``, against its reference twin:

* the same module with ``impl='reference'`` (the plain composition in a block, the
  module's textbook ops);
* and, for a module with an entry in ``FORMULAS``, whose ``forward`` is that entry,
  the paper's formula written out plainly here. A formula calls the module's
  submodules in the order the module does, so that hooks fire alike.

``STRONGER`` (optional) gives a module arguments that make its tiny-size test
stronger; ``VARIANTS`` adds configs beside the defaults (other squeezes, variants,
implementation modes).

As layers, the slot modules are checked by the contract kit
(:func:`se_plugin.testing.check_attention_module`) over ``CONTRACT_CASES``: each
module at its defaults in each of its implementation modes, with ``STRONGER``'s
arguments, each of ``VARIANTS`` and ``CONTRACT_VARIANTS``.
"""

from __future__ import annotations

import copy
import types
from typing import Callable, NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from se_plugin.models import (
    CBAM,
    CoordAttention,
    ECALayer,
    EffectiveSELayer,
    GatherExcite,
    GlobalContext,
    SEBasicBlock,
    SEBottleneck,
    SEResNet,
    SEResNeXt,
    SimAM,
    SKBlock,
    SKNet,
    SRMLayer,
)
from se_plugin.models.layers import ATTENTION_LAYERS
from se_plugin.registry import MODELS

# arguments that make a test at 16 channels stronger: a wider hidden layer, no
# zero-initialised (identity) transform
STRONGER = {
    'SELayer': dict(ratio=4, divisor=1),
    'CBAM': dict(ratio=4),
    'GatherExcite': dict(ratio=4),  # theta-plus, extent 8
    'GlobalContext': dict(ratio=1 / 4, zero_init_last=False),
}
VARIANTS = {
    'SELayer-max': dict(type='se_plugin.SELayer', ratio=4, divisor=1, squeeze='max'),
    'SELayer-avgmax': dict(type='se_plugin.SELayer', ratio=4, divisor=1, squeeze='avgmax'),
    'SELayer-prelu-hsigmoid': dict(
        type='se_plugin.SELayer',
        ratio=4,
        divisor=1,
        act_cfg=(dict(type='PReLU'), dict(type='HSigmoid')),
    ),
    'SELayer-recompute': dict(type='se_plugin.SELayer', ratio=4, divisor=1, impl='recompute'),
    'SimAM-fused': dict(type='se_plugin.SimAM', impl='fused'),
    'GatherExcite-theta-minus': dict(
        type='se_plugin.GatherExcite', variant='theta-minus', extent=2
    ),
    'GlobalContext-scale': dict(
        type='se_plugin.GlobalContext', ratio=1 / 4, fusion='scale', zero_init_last=False
    ),
}
# the shape-keeping attention modules of the slot (in_channels filled in by the block)
ATTENTION = {
    name: dict(type=f'se_plugin.{name}', **STRONGER.get(name, {})) for name in ATTENTION_LAYERS
}
ATTENTION.update(VARIANTS)
# configs only the contract kit runs (cheap there; not worth a block and a backbone each)
CONTRACT_VARIANTS = {
    # a gate whose second derivative is not zero (hsigmoid's is)
    'EffectiveSELayer-sigmoid': dict(
        type='se_plugin.EffectiveSELayer', act_cfg=dict(type='Sigmoid')
    ),
    'GatherExcite-extent2': dict(type='se_plugin.GatherExcite', extent=2, ratio=4),  # local gather
}


def _contract_cases() -> dict:
    """``id -> (config, keyword arguments)`` of the kit's runs."""
    cases = {}
    for name in ATTENTION_LAYERS:
        for mode in MODELS.get(name).impls:
            cases[f'{name}-impl-{mode}'] = (dict(type=f'se_plugin.{name}'), dict(impl=mode))
    cases.update({f'{name}-stronger': (ATTENTION[name], {}) for name in STRONGER})
    cases.update({name: (cfg, {}) for name, cfg in {**VARIANTS, **CONTRACT_VARIANTS}.items()})
    return cases


CONTRACT_CASES = _contract_cases()


def _eca(m: ECALayer, x: torch.Tensor) -> torch.Tensor:
    weight = m.gate(m.conv(x.mean((2, 3))[:, None]))  # (N, 1, C): a 1-D conv across channels
    return x * weight[:, 0, :, None, None]


def _effective_se(m: EffectiveSELayer, x: torch.Tensor) -> torch.Tensor:
    assert m.squeeze == 'avg'
    return x * m.gate(m.fc(x.mean((2, 3), keepdim=True)))


def _cbam(m: CBAM, x: torch.Tensor) -> torch.Tensor:
    def mlp(v):
        return m.fc2(m.act(m.fc1(v)))

    x = x * m.gate(mlp(x.mean((2, 3), keepdim=True)) + mlp(x.amax((2, 3), keepdim=True)))
    pooled = torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], 1)
    return x * m.spatial_gate(m.spatial(pooled))


def _simam(m: SimAM, x: torch.Tensor) -> torch.Tensor:
    n = max(x.shape[2] * x.shape[3] - 1, 1)
    d2 = (x - x.mean((2, 3), keepdim=True)).pow(2)
    return x * torch.sigmoid(d2 / (4 * (d2.sum((2, 3), keepdim=True) / n + m.e_lambda)) + 0.5)


def _gather_excite(m: GatherExcite, x: torch.Tensor) -> torch.Tensor:
    e = m.extent
    if m.gather is not None:
        g = m.gather(x)
    elif e == 0:
        g = x.mean((2, 3), keepdim=True)
    else:
        g = F.avg_pool2d(x, 2 * e - 1, stride=e, padding=e - 1, count_include_pad=False)
    if m.fc1 is not None:
        g = m.fc2(m.act(m.fc1(g)))
    return x * F.interpolate(m.gate(g), size=x.shape[2:], mode='nearest')


def _global_context(m: GlobalContext, x: torch.Tensor) -> torch.Tensor:
    n, c, h, w = x.shape
    if m.conv_attn is not None:
        alpha = m.conv_attn(x).reshape(n, 1, h * w).softmax(-1)
        context = (x.reshape(n, c, h * w) * alpha).sum(-1)
    else:
        context = x.mean((2, 3))
    hidden = m.act(m.norm(m.fc1(context[:, :, None, None])[:, :, 0, 0]))
    term = m.fc2(hidden[:, :, None, None])
    return x + term if m.fusion == 'add' else x * torch.sigmoid(term)


def _coord_attention(m: CoordAttention, x: torch.Tensor) -> torch.Tensor:
    h = x.shape[2]
    y = torch.cat([x.mean(3, keepdim=True), x.mean(2, keepdim=True).permute(0, 1, 3, 2)], 2)
    y = m.act(m.bn1(m.conv1(y)))
    a_h = m.gate(m.conv_h(y[:, :, :h]))
    a_w = m.gate(m.conv_w(y[:, :, h:].permute(0, 1, 3, 2)))
    return x * a_w * a_h


def _srm(m: SRMLayer, x: torch.Tensor) -> torch.Tensor:
    flat = x.flatten(2)
    std = (flat.var(2) + m.eps).sqrt()  # unbiased, as the authors' code (H * W > 1 here)
    z = m.cfc[:, 0] * flat.mean(2) + m.cfc[:, 1] * std
    return x * m.gate(m.bn(z[:, :, None, None])).to(x.dtype)  # the gate in x's dtype


# the paper's formulas: reference twins beside impl='reference' (module, x) -> output
FORMULAS = {ECALayer: _eca, EffectiveSELayer: _effective_se, CBAM: _cbam, SimAM: _simam}
FORMULAS.update(
    {
        GatherExcite: _gather_excite,
        GlobalContext: _global_context,
        CoordAttention: _coord_attention,
        SRMLayer: _srm,
    }
)
POSITIONS = ('standard', 'pre', 'post', 'identity', 'after_conv2')
TINY = dict(stem_channels=8, base_channels=8, num_stages=2, strides=(1, 2), dilations=(1, 1))
TINY.update(out_indices=(0, 1))
TINY_RESNET = dict(TINY, stem_type='cifar')
TINY_SK = dict(TINY_RESNET, groups=2, width_per_group=4, min_channels=4)


class Case(NamedTuple):
    build: Callable[[], nn.Module]
    shape: tuple  # the input's
    with_cp: bool  # whether the model takes a with_cp argument


def _bottleneck(attn_cfg, position, **kwargs):
    downsample = nn.Sequential(nn.Conv2d(16, 32, 1, bias=False), nn.BatchNorm2d(32))
    return SEBottleneck(
        16, 32, attn_cfg=attn_cfg, attn_position=position, downsample=downsample, **kwargs
    )


def _injected():
    return MODELS.build(
        dict(
            type='se_plugin.AttentionInjected',
            backbone=dict(type='ResNet', depth=18, **TINY),
            attention=dict(type='se_plugin.SELayer', ratio=4, divisor=1),
            after='layer*.*.bn2',
        )
    )


def _cases() -> dict:
    cases = {}
    for name, cfg in ATTENTION.items():
        cases[f'layer:{name}'] = Case(
            lambda cfg=cfg: MODELS.build(dict(cfg, in_channels=16)), (3, 16, 5, 6), False
        )
        positions = POSITIONS if name == 'SELayer' else ('standard',)
        for position in positions:
            cases[f'bottleneck:{name}:{position}'] = Case(
                lambda cfg=cfg, p=position, **kw: _bottleneck(cfg, p, **kw), (3, 16, 6, 5), True
            )
        cases[f'se_resnet18:{name}'] = Case(
            lambda cfg=cfg, **kw: SEResNet(18, attn_cfg=cfg, **TINY_RESNET, **kw),
            (2, 3, 10, 9),
            True,
        )
    se, cbam = ATTENTION['SELayer'], ATTENTION['CBAM']
    cases.update(
        {
            'layer:sk': Case(lambda: _sk(), (3, 16, 6, 6), False),
            'layer:sk-stride2': Case(lambda: _sk(stride=2, num_paths=3), (3, 16, 7, 7), False),
            'layer:sk-sum': Case(lambda: _sk(select='sum'), (3, 16, 6, 6), False),
            'basic:SELayer': Case(
                lambda **kw: SEBasicBlock(16, 16, attn_cfg=se, **kw), (3, 16, 6, 5), True
            ),
            'basic:CBAM': Case(
                lambda **kw: SEBasicBlock(16, 16, attn_cfg=cbam, **kw), (3, 16, 6, 5), True
            ),
            'bottleneck:SELayer:drop-path': Case(
                lambda **kw: _bottleneck(se, 'standard', drop_path_rate=0.5, **kw),
                (3, 16, 6, 5),
                True,
            ),
            'bottleneck:CBAM:drop-path': Case(
                lambda **kw: _bottleneck(cbam, 'standard', drop_path_rate=0.5, **kw),
                (3, 16, 6, 5),
                True,
            ),
            'skblock:SELayer': Case(
                lambda **kw: SKBlock(
                    32, 32, groups=2, base_channels=8, min_channels=4, attn_cfg=se, **kw
                ),
                (3, 32, 6, 6),
                True,
            ),
            'se_resnet50': Case(
                lambda **kw: SEResNet(50, **TINY_RESNET, **kw), (2, 3, 10, 9), True
            ),
            'se_resnext50': Case(
                lambda **kw: SEResNeXt(50, groups=2, width_per_group=4, **TINY_RESNET, **kw),
                (2, 3, 10, 9),
                True,
            ),
            'sknet26': Case(lambda **kw: SKNet(26, **TINY_SK, **kw), (2, 3, 10, 9), True),
            'se_densenet': Case(lambda: _densenet(), (2, 3, 16, 16), False),
            'injected_resnet18': Case(_injected, (2, 3, 10, 9), False),
        }
    )
    return cases


def _sk(**kwargs):
    from se_plugin.models import SKConv

    layer = SKConv(16, 16, groups=4, min_channels=8, **kwargs)
    if layer.select is not None:
        nn.init.normal_(layer.select.weight, std=0.5)  # non-uniform path weights
    return layer


def _densenet():
    from se_plugin.models import SEDenseNet

    arch = dict(growth_rate=4, depths=[2, 2], init_channels=8)
    return SEDenseNet(
        arch=arch, attn_cfg=dict(type='se_plugin.SELayer', ratio=4, divisor=1), out_indices=(0, 1)
    )


CASES = _cases()


def randomize(model: nn.Module) -> nn.Module:
    """Non-trivial norm parameters and statistics (the defaults hide folding mistakes)."""
    torch.manual_seed(0)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            if m.affine:
                nn.init.uniform_(m.weight, 0.5, 1.5)
                nn.init.uniform_(m.bias, -0.5, 0.5)
            if m.track_running_stats:
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
    return model


def build(name: str, dtype=torch.float64, **kwargs) -> tuple:
    """(fused model, reference twin, input) of the case ``name``, same weights."""
    case = CASES[name]
    torch.manual_seed(0)
    model = randomize(case.build(**kwargs)).to(dtype)
    reference = as_reference(copy.deepcopy(model))
    torch.manual_seed(1)
    x = torch.randn(case.shape, dtype=dtype)
    return model, reference, x


def as_reference(model: nn.Module) -> nn.Module:
    """``model`` with each attention module replaced by its reference twin (in place)."""
    for m in model.modules():
        if type(m) in FORMULAS:
            m.forward = types.MethodType(FORMULAS[type(m)], m)
        if hasattr(m, 'impl'):  # (a block then calls the module plainly, its twin's forward)
            m.impl = 'reference'
    return model


def flat(out) -> torch.Tensor:
    """A model's output (a tensor or a tuple of them) as one flat tensor."""
    if isinstance(out, torch.Tensor):
        return out.flatten()
    return torch.cat([o.flatten() for o in out])
