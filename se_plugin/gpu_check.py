"""The fast paths on an accelerator: parity with the reference paths, then speed.

``bash tools/gpu_check.sh`` (``tools/gpu_check.py``, which calls :func:`run`)
runs, on one CUDA device:

1. **parity**: every fused path (SE layer, SE blocks with the folded norm, SK
   layer and block, SE-ResNet-50 and SKNet-50 at a small size) against its
   ``impl='reference'`` twin in fp32 (outputs, input and parameter gradients,
   running statistics, ``allclose``), and under fp16 and bf16 autocast and
   channels_last (each compared with the fp32 reference: the cosine
   similarity of all outputs and gradients must not be worse than the
   reference path's);
2. **speed**: the AMP + channels_last train-step and inference table of
   se_plugin SE-ResNet-50 and SKNet-50 beside torchvision ResNet-50,
   mmpretrain and timm (``tools/benchmark.py`` logic), as markdown.

It fits a few minutes (small parity models, few rounds). Exit status 1 when a
parity check fails, 2 when there is no such device. ``--device cpu`` runs the
parity part on CPU (how the tests exercise it).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable

import torch
import torch.nn as nn

from se_plugin.benchmark import Options, describe, markdown_table, run_benchmark

SPEED_MODELS = (
    'se_plugin.SEResNet:depth=50',
    'mmpretrain.SEResNet:depth=50',
    'timm.seresnet50',
    'se_plugin.SKNet:depth=50',
    'timm.skresnext50_32x4d',
)


def _parity_models() -> dict:
    from se_plugin.models import SEBasicBlock, SEBottleneck, SELayer, SEResNet, SKConv, SKNet

    small = dict(stem_channels=16, base_channels=16)
    se = dict(type='se_plugin.SELayer', ratio=4, divisor=1)
    down = nn.Sequential(nn.Conv2d(32, 64, 1, bias=False), nn.BatchNorm2d(64))
    return {
        'SELayer avg': (lambda: SELayer(64, ratio=4), (8, 64, 14, 14)),
        'SELayer avgmax': (lambda: SELayer(64, ratio=4, squeeze='avgmax'), (8, 64, 14, 14)),
        'SEBasicBlock (norm fold)': (lambda: SEBasicBlock(64, 64, attn_cfg=se), (8, 64, 14, 14)),
        'SEBottleneck (norm fold)': (
            lambda: SEBottleneck(32, 64, attn_cfg=se, downsample=copy.deepcopy(down)),
            (8, 32, 14, 14),
        ),
        'SKConv stride 2': (lambda: SKConv(64, 64, stride=2, groups=8), (8, 64, 15, 15)),
        'SE-ResNet-50 (small)': (lambda: SEResNet(50, **small), (4, 3, 64, 64)),
        'SKNet-50 (small)': (lambda: SKNet(50, groups=8, **small), (4, 3, 64, 64)),
    }


def _reference(model: nn.Module) -> nn.Module:
    ref = copy.deepcopy(model)
    for m in ref.modules():
        if hasattr(m, 'impl'):
            m.impl = 'reference'
    return ref


def _step(model: nn.Module, x: torch.Tensor, autocast: torch.dtype | None) -> list:
    """Output, input gradient, parameter gradients and buffers of one train step (flat)."""
    model.train()
    model.zero_grad(set_to_none=True)
    x = x.clone().requires_grad_()
    with torch.autocast(x.device.type, dtype=autocast, enabled=autocast is not None):
        out = model(x)
    outs = out if isinstance(out, (tuple, list)) else (out,)
    flat = torch.cat([o.float().flatten() for o in outs])
    weights = torch.linspace(-1, 1, flat.numel(), device=flat.device)
    (flat * weights).sum().backward()
    grads = [p.grad.float().flatten() for p in model.parameters() if p.grad is not None]
    buffers = [b.float().flatten() for b in model.buffers()]
    return [flat.detach(), x.grad.float().flatten(), *grads, *buffers]


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    """fp32 agreement relative to the tensor's scale (gradients sum many rounded terms)."""
    return bool((a - b).abs().max() <= 1e-3 * b.abs().max() + 1e-6)


def _cosine(run: list, truth: list) -> float:
    a, b = torch.cat(run), torch.cat(truth)
    return float(torch.nn.functional.cosine_similarity(a, b, dim=0))


def check_parity(device: str, log: Callable[[str], object] = print) -> list:
    """Fused vs reference for every model and setting; returns the failures (strings)."""
    failures = []
    for name, (build, shape) in _parity_models().items():
        torch.manual_seed(0)
        model = build().to(device)
        x = torch.randn(shape, device=device)
        for memory_format in (torch.contiguous_format, torch.channels_last):
            fused = copy.deepcopy(model).to(memory_format=memory_format)
            xf = x.contiguous(memory_format=memory_format)
            truth = _step(_reference(model), x, None)
            got = _step(fused, xf, None)
            ok = all(_close(a, b) for a, b in zip(got, truth))
            fmt = 'channels_last' if memory_format == torch.channels_last else 'NCHW'
            log(f'{name:28s} {fmt:13s} fp32      {"ok" if ok else "MISMATCH"}')
            if not ok:
                failures.append(f'{name} {fmt} fp32')
            dtypes = (torch.float16, torch.bfloat16) if device != 'cpu' else (torch.bfloat16,)
            for dtype in dtypes:
                fused_cos = _cosine(_step(copy.deepcopy(fused), xf, dtype), truth)
                ref_cos = _cosine(_step(_reference(fused), xf, dtype), truth)
                ok = fused_cos >= ref_cos - 0.01
                label = str(dtype).replace('torch.', '')
                log(
                    f'{name:28s} {fmt:13s} {label:9s} {"ok" if ok else "WORSE"} '
                    f'(cosine to fp32: fused {fused_cos:.5f}, reference {ref_cos:.5f})'
                )
                if not ok:
                    failures.append(f'{name} {fmt} {label}')
    return failures


def speed_table(device: str, repeats: int, log: Callable[[str], object] = print) -> str:
    opts = Options(
        batch_size=64 if device != 'cpu' else 8,
        channels_last=True,
        amp=True,
        device=device,
        warmup=3,
        repeats=repeats,
    )
    report = run_benchmark(SPEED_MODELS, baseline='torchvision.resnet50', opts=opts, log=log)
    return describe(report['environment'], opts) + '\n\n' + markdown_table(report)


def run(device: str = 'cuda', repeats: int = 10, speed: bool = True) -> int:
    """The parity checks, then (``speed``) the speed table; printed as they run.

    Args:
        device (str): ``cuda[:N]`` or ``cpu`` (parity only makes sense there).
            Default: 'cuda'.
        repeats (int): Timed rounds of the speed table. Default: 10.
        speed (bool): Also time the speed table. Default: True.

    Returns:
        int: The exit status: 1 when a parity check failed, else 0.
    """
    if device.startswith('cuda') and not torch.cuda.is_available():
        raise ValueError(f'--device {device}: no CUDA device here (use --device cpu)')
    start = time.perf_counter()
    if device.startswith('cuda'):
        print(f'device: {torch.cuda.get_device_name(torch.device(device))}')
    failures = check_parity(device)
    print(f'parity: {len(failures)} failure(s) in {time.perf_counter() - start:.0f} s')
    if speed:
        print(speed_table(device, repeats))
    print(f'total {time.perf_counter() - start:.0f} s')
    return 1 if failures else 0
