"""se_plugin.benchmark.slots: ResNet-50's attention slots, one module against another."""

import pytest
import torch
from torch import nn

from se_plugin.benchmark import Options, build_model, run_benchmark, slots
from se_plugin.benchmark.slots import RESNET50_STAGES, AttentionSlots
from se_plugin.models import CBAM
from se_plugin.models.layers.base import AttentionModule, attend_after_norm

from .tiny import TINY_OPTS

SMALL = ((8, 2), (16, 1))


def test_the_slots_are_resnet50s():
    model = build_model('slots.se_plugin.CBAM:bias=False,ratio=4', num_classes=10)
    attn = [m for m in model.modules() if isinstance(m, CBAM)]
    assert len(attn) == sum(blocks for _, blocks in RESNET50_STAGES) == 16
    assert [m.in_channels for m in attn[:4]] == [256, 256, 256, 512]
    assert all(m.fc1.bias is None and m.squeeze_channels == m.in_channels // 4 for m in attn)
    assert model(torch.rand(2, 3, 32, 32)).shape == (2, 10)
    empty = build_model('slots.none', num_classes=10)
    assert not any(isinstance(m, AttentionModule) for m in empty.modules())
    assert empty(torch.rand(2, 3, 32, 32)).shape == (2, 10)


def test_a_slot_is_the_blocks_composition(monkeypatch):
    """Each slot runs ``relu(attend_after_norm(module, z, bn, residual))``, as a block does."""
    calls = []

    def spy(module, z, norm, residual=None):
        calls.append((type(module), type(norm), residual is None, z.shape[1:]))
        return attend_after_norm(module, z, norm, residual)

    monkeypatch.setattr(slots, 'attend_after_norm', spy)
    model = AttentionSlots(lambda c: CBAM(c, ratio=4), num_classes=10, stages=SMALL)
    model(torch.rand(2, 3, 30, 30)).sum().backward()
    bn = nn.BatchNorm2d
    assert calls == [
        (CBAM, bn, True, (8, 8, 8)),  # ceil(30 / 4), no residual before a stage's first block
        (CBAM, bn, False, (8, 8, 8)),
        (CBAM, bn, True, (16, 4, 4)),
    ]
    assert all(p.grad is not None for p in model.parameters())


def test_timm_peer_has_the_same_parameters():
    pytest.importorskip('timm')
    ours = build_model('slots.se_plugin.GlobalContext:ratio=0.125', num_classes=10)
    peer = build_model('slots.timm.gca', num_classes=10)
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in peer.parameters())
    assert peer(torch.rand(2, 3, 32, 32)).shape == (2, 10)


@pytest.mark.parametrize(
    'spec, match',
    [
        ('slots.se_plugin.NoSuchLayer', "no registered attention module 'se_plugin.NoSuchLayer'"),
        ('slots.timm.no_such_layer', "timm has no attention layer 'no_such_layer'"),
        ('slots.cbam', "slots spec 'cbam': expected slots.none"),
        ('slots.none:ratio=4', "slots spec 'none': expected slots.none"),
        ('slots.se_plugin.CBAM:ratio=-1', 'ratio'),
    ],
)
def test_bad_slots_specs(spec, match):
    if '.timm.' in spec:
        pytest.importorskip('timm')
    with pytest.raises(ValueError, match=match):
        build_model(spec)


def test_the_benchmark_times_and_counts_slots():
    report = run_benchmark(
        ['slots.se_plugin.CBAM:ratio=4'],
        baseline='slots.se_plugin.CBAM:ratio=4,impl=reference',
        opts=Options(**dict(TINY_OPTS, modes=('train',))),
        log=lambda line: None,
    )
    reference, fused = report['results']
    assert fused.ratio is not None and len(fused.times_ms) == TINY_OPTS['repeats']
    assert fused.saved_mb < reference.saved_mb  # the fused path keeps no attention maps


def test_under_autocast_the_slots_see_z_in_its_dtype(monkeypatch):
    """The projection and the head run in fp32 (the same cost for every spec); each slot
    gets ``z`` in autocast's dtype, as after a block's convolution."""
    dtypes = []

    def spy(module, z, norm, residual=None):
        dtypes.append(z.dtype)
        return attend_after_norm(module, z, norm, residual)

    monkeypatch.setattr(slots, 'attend_after_norm', spy)
    model = AttentionSlots(lambda c: CBAM(c, ratio=4), num_classes=10, stages=SMALL)
    with torch.autocast('cpu', torch.bfloat16):
        out = model(torch.rand(2, 3, 16, 16))
    assert out.dtype == torch.float32 and dtypes == [torch.bfloat16] * 3
    assert (
        model(torch.rand(2, 3, 16, 16)).dtype == torch.float32 and dtypes[3:] == [torch.float32] * 3
    )
