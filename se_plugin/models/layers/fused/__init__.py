"""Fast paths of the attention layers: kernels and fused autograd Functions.

Why: an attention layer's MLP is tiny; what it costs is memory traffic over
the ``(N, C, H, W)`` tensor it pools and rescales, and the activations
autograd keeps for the backward. The plain ops read and write that tensor
several times in the backward and keep extra full-size tensors; the fused
Functions here make one reduction pass and one output pass, keep only the
layer's input, and (``FusedNormSqueezeScale``) fold the block's last batch
norm into the SE layer so that not even the norm's output is kept.

How they stay the same module (see :mod:`.autograd`): a Function runs only in
eager mode with a gradient to record, never while a graph is traced,
scripted, compiled, exported or transformed by ``torch.func`` / forward-mode
AD, never for empty batches, and never where a hook would be skipped (the
layers check :func:`has_hooks`); a backward asked for a graph differentiates
the plain formula; reductions of fp16/bf16 tensors accumulate in fp32.

Rooms: :mod:`.kernels` (reductions and affine maps; the only user of private
aten kernels), :mod:`.autograd` (when a Function may run, shared backward
parts), :mod:`.se` (the SE Functions, also ECA's and eSE's, through
``ChannelScaleLayer``), :mod:`.sk` (the SK selection Function, strided path
convolutions), :mod:`.simam` (SimAM's formula and its Function). Measured
speed: ``docs/benchmark.md``.
"""

from .autograd import fused_function_allowed, has_hooks, plain_graph_required, plain_ops_required
from .kernels import (
    channel_dot,
    channel_sums,
    combine_parts,
    pool_parts,
    scale_shift,
    spatial_max,
    spatial_mean,
)
from .se import FusedNormSqueezeScale, FusedSqueezeScale
from .simam import FusedSimAM, simam
from .sk import FusedSelectiveSum, conv_on_stride_grid, run_path, selective_sum

__all__ = [
    'FusedNormSqueezeScale',
    'FusedSelectiveSum',
    'FusedSimAM',
    'FusedSqueezeScale',
    'channel_dot',
    'channel_sums',
    'combine_parts',
    'conv_on_stride_grid',
    'fused_function_allowed',
    'has_hooks',
    'plain_graph_required',
    'plain_ops_required',
    'pool_parts',
    'run_path',
    'scale_shift',
    'selective_sum',
    'simam',
    'spatial_max',
    'spatial_mean',
]
