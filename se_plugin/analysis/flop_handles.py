"""FLOP handles for the operators mmengine's counter skips, so attention is counted.

mmengine's :class:`~mmengine.analysis.FlopAnalyzer` (fvcore's convention)
counts convolutions, linear layers / matrix products, norms and adaptive
average pooling, and reports every other operator as *unsupported*. That
leaves out most of what channel attention computes besides its 1x1 convs:
the squeeze (a mean over H x W), the channel scaling (a broadcast multiply),
SK's path sum, SimAM's statistics, and also the residual additions and the
stem's max pooling. :data:`EXTRA_HANDLES` counts them in the same unit
(one multiply-add, comparison or arithmetic op per element = 1 FLOP):

================================  ==============================================
operators                         FLOPs
================================  ==============================================
``mean``, ``sum``, ``amax``       1 per input element (one add / comparison)
``var``, ``std``                  3 per input element (subtract, square, add)
``mul``, ``add``, ``sub``,        1 per output element (broadcasts count once
``div``, ``pow``, ``square``      per element of the result)
``max_pool2d``, ``avg_pool2d``    kernel height x width per output element
``adaptive_max_pool2d``           1 per input element (as mmengine's average)
================================  ==============================================

Pointwise nonlinearities (:data:`NOT_COUNTED`: sigmoid, hard sigmoid, tanh,
softmax, hard swish, ...) are not counted, as mmengine/fvcore already leave
out ``relu``: a gate costs the same order as the scaling it feeds, and
counting activations would make every row incomparable with published
numbers. With both sets installed, a model whose operators are all known
reports nothing as uncounted, which the tests check for every config.
"""

from __future__ import annotations

from math import prod
from typing import Any, Callable

from mmengine.analysis.jit_handles import elementwise_flop_counter, get_shape

Handle = Callable[[list, list], int]


def _pool_flops(inputs: list, outputs: list) -> int:
    """``kernel_h * kernel_w`` per output element of a 2-D pooling."""
    kernel = inputs[1].toIValue()
    if kernel is None:  # a prim::ListConstruct of the traced graph
        kernel = [value.toIValue() for value in inputs[1].node().inputs()]
    kernel = list(kernel) if isinstance(kernel, (list, tuple)) else [kernel]
    kernel = kernel * 2 if len(kernel) == 1 else kernel
    return prod(get_shape(outputs[0])) * prod(kernel)


def _per_output(inputs: list, outputs: list) -> int:
    return prod(get_shape(outputs[0]) or [1])


_REDUCE = elementwise_flop_counter(1, 0)
_MOMENT = elementwise_flop_counter(3, 0)

EXTRA_HANDLES: dict[str, Handle] = {
    **dict.fromkeys(('aten::mean', 'aten::sum', 'aten::amax'), _REDUCE),
    'aten::adaptive_max_pool2d': _REDUCE,
    **dict.fromkeys(('aten::var', 'aten::std'), _MOMENT),
    **{
        f'aten::{op}{suffix}': _per_output
        for op in ('mul', 'add', 'sub', 'rsub', 'div', 'pow', 'square')
        for suffix in ('', '_')
    },
    'aten::max_pool2d': _pool_flops,
    'aten::avg_pool2d': _pool_flops,
}
"""Operator name -> FLOP handle, added to mmengine's defaults."""

NOT_COUNTED: frozenset = frozenset(
    f'aten::{op}{suffix}'
    for op in (
        'sigmoid',
        'hardsigmoid',
        'tanh',
        'softmax',
        'hardswish',
        'silu',
        'gelu',
        'hardtanh',
        'relu6',
        'prelu',
        'elu',
        'leaky_relu',
        'exp',
        'sqrt',
        'rsqrt',
        'split',
        'split_with_sizes',
        'unbind',
        'stack',
        'repeat',
        'expand_as',
        'type_as',
        'to',
        'unsqueeze',
        'squeeze',
        'transpose',
    )
    for suffix in ('', '_')
)
"""Pointwise nonlinearities and data movement: not counted, as ``relu`` in mmengine."""


def install(analyzer: Any) -> Any:
    """Add :data:`EXTRA_HANDLES` and ignore :data:`NOT_COUNTED` on ``analyzer``."""
    return analyzer.set_op_handle(**EXTRA_HANDLES).set_op_handle(
        **dict.fromkeys(NOT_COUNTED)  # None: explicitly ignored
    )


__all__ = ['EXTRA_HANDLES', 'NOT_COUNTED', 'install']
