"""Parity of an exported model with PyTorch, at the input sizes its graph promises.

A static graph promises its traced size at any batch size. A graph with
dynamic height and width promises every size the PyTorch model runs at, and
that is where tracing goes wrong: a value computed in Python from a shape at
trace time (a divisor ``max(H * W - 1, 1)``, a pooling extent, a branch on
the map size) is baked into the graph as a constant, so the file is right at
the traced size and wrong elsewhere; a statistic that needs two positions is
NaN once the last stage's maps are ``1 x 1``. :func:`parity_shapes` therefore
checks a dynamic graph at the traced size and at inputs whose deepest feature
maps are ``1 x 1``, ``2 x 2`` and odd (``3 x 3``, from an odd, non-square input),
and at a larger size. The deepest maps' stride is measured on the module
(:func:`spatial_reduction`), not assumed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Callable, Optional

import torch
from torch import Tensor, nn

__all__ = ['ParityCheck', 'check_parity', 'outputs', 'parity_shapes', 'spatial_reduction']


def outputs(value: Any) -> list:
    """A model's or runtime's outputs as a flat list of float64 CPU tensors."""
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in outputs(v)]
    return [torch.as_tensor(value).detach().cpu().double()]


@dataclass
class ParityCheck:
    """One comparison of the exported model with PyTorch at one input shape.

    Args:
        shape (tuple): The input shape ``(N, C, H, W)``.
        max_abs_diff (float): Largest absolute difference (NaN when an output
            is not finite).
        max_abs_ref (float): Largest absolute PyTorch output.
        tolerance (float): ``atol + rtol * max_abs_ref``.
        error (str, optional): Why the exported model gave no comparable
            output (it failed, or its outputs have other shapes). Default: None.
    """

    shape: tuple
    max_abs_diff: float
    max_abs_ref: float
    tolerance: float
    error: Optional[str] = None

    @property
    def ok(self) -> bool:
        """Comparable, finite and within the tolerance."""
        return (
            self.error is None
            and math.isfinite(self.max_abs_diff)
            and self.max_abs_diff <= self.tolerance
        )


def _maps(output: Any) -> list:
    """The ``(h, w)`` of the 4-D tensors in a module's output."""
    if isinstance(output, Tensor):
        return [tuple(output.shape[2:])] if output.dim() == 4 else []
    if isinstance(output, (list, tuple)):
        return [hw for item in output for hw in _maps(item)]
    return []


def _map_sizes(module: nn.Module, shape: tuple) -> dict:
    """``{submodule: [(h, w), ...]}`` of the feature maps each submodule outputs."""
    found: dict = {}
    handles = [
        m.register_forward_hook(lambda m, args, out: found.setdefault(m, []).extend(_maps(out)))
        for m in module.modules()
    ]
    try:
        with torch.no_grad():
            module(torch.zeros(shape))
    finally:
        for handle in handles:
            handle.remove()
    return found


def spatial_reduction(module: nn.Module, input_shape: Sequence[int]) -> tuple:
    """``(rh, rw)``: the input size per position of the module's deepest feature maps.

    The module runs on one input of ``input_shape`` ``(C, H, W)`` and one of
    twice its height and width; of the feature maps its submodules output,
    those that grow with the input (global pools do not) are spatial, and the
    smallest of them gives the reduction (``ceil(H / h)``). An input of
    ``(rh, rw)`` then gives ``1 x 1`` deepest maps (with the usual padding).

    Args:
        module (nn.Module): An eval-mode module taking ``(N, C, H, W)`` batches.
        input_shape (Sequence[int]): ``(C, H, W)``.

    Returns:
        tuple[int, int]: ``(1, 1)`` when no submodule outputs a spatial map.
    """
    c, h, w = input_shape
    small = _map_sizes(module, (1, c, h, w))
    large = _map_sizes(module, (1, c, 2 * h, 2 * w))
    rh = rw = 1
    for m, sizes in small.items():
        for (h1, w1), (h2, w2) in zip(sizes, large.get(m, [])):
            if h2 > h1 and w2 > w1:
                rh, rw = max(rh, math.ceil(h / h1)), max(rw, math.ceil(w / w1))
    return rh, rw


def parity_shapes(
    input_shape: Sequence[int],
    batch_sizes: Sequence[int] = (1, 3),
    dynamic_hw: bool = False,
    reduction: Sequence[int] = (1, 1),
    smallest_map: int = 1,
) -> list:
    """The input shapes to check.

    ``input_shape`` at each batch size; with ``dynamic_hw`` also, at the last
    batch size, inputs whose deepest maps are ``1 x 1`` (``reduction``; left
    out when ``smallest_map`` is 2), ``2 x 2``, ``3 x 3`` from an odd,
    non-square input, and one 1/4 larger than ``input_shape`` (duplicates
    left out).

    Args:
        input_shape (Sequence[int]): ``(C, H, W)`` of the traced input.
        batch_sizes (Sequence[int]): Batch sizes. Default: (1, 3).
        dynamic_hw (bool): Whether the graph promises other heights and
            widths. Default: False.
        reduction (Sequence[int]): :func:`spatial_reduction` of the model.
            Default: (1, 1).
        smallest_map (int): The smallest deepest map to check, 1 or 2.
            Default: 1.

    Example:
        >>> parity_shapes((3, 32, 32), (1,), dynamic_hw=True, reduction=(8, 8))
        [(1, 3, 32, 32), (1, 3, 8, 8), (1, 3, 16, 16), (1, 3, 17, 24), (1, 3, 40, 40)]
    """
    c, h, w = input_shape
    shapes = [(n, c, h, w) for n in batch_sizes]
    if dynamic_hw:
        rh, rw = reduction
        n = batch_sizes[-1]
        sizes = [(rh, rw)] if smallest_map <= 1 else []
        larger = (h + max(1, h // 4), w + max(1, w // 4))
        sizes += [(2 * rh, 2 * rw), (2 * rh + 1, 3 * rw), larger]
        shapes += [(n, c, *size) for size in sizes if (n, c, *size) not in shapes]
    return shapes


def _size(shape: Sequence[int]) -> str:
    return 'x'.join(map(str, shape))


def _compare(got: list, expected: list, shape: tuple, atol: float, rtol: float) -> ParityCheck:
    ref = max((b.abs().max().item() for b in expected), default=0.0)
    tolerance = atol + rtol * (ref if math.isfinite(ref) else 0.0)
    if len(got) != len(expected) or any(a.shape != b.shape for a, b in zip(got, expected)):
        error = (
            f'exported outputs {[tuple(t.shape) for t in got]}, '
            f'PyTorch {[tuple(t.shape) for t in expected]}'
        )
        return ParityCheck(shape, math.nan, ref, tolerance, error)
    diff = max(((a - b).abs().max().item() for a, b in zip(got, expected)), default=0.0)
    return ParityCheck(shape, diff, ref, tolerance)


def check_parity(
    module: nn.Module,
    run: Callable[[Tensor], list],
    shapes: Sequence[Sequence[int]],
    atol: float = 1e-4,
    rtol: float = 1e-4,
    seed: int = 0,
) -> tuple:
    """Compare ``run`` (an exported model) with ``module`` on random inputs.

    A shape the PyTorch module itself cannot run (an input too small for
    its layers) is skipped: the graph promises nothing there. An exported
    model that fails where PyTorch runs, or gives other output shapes, is a
    failed check.

    Args:
        module (nn.Module): The PyTorch model (eval mode).
        run (Callable): The exported model, as
            :func:`~se_plugin.export.load_exported` returns it.
        shapes (Sequence): Input shapes ``(N, C, H, W)``, one check each.
        atol (float): Absolute tolerance. Default: 1e-4.
        rtol (float): Tolerance relative to the largest output magnitude of
            PyTorch. Default: 1e-4.
        seed (int): Seed of the random inputs. Default: 0.

    Returns:
        tuple[list[ParityCheck], list[str]]: The checks, and a line per
        skipped shape (``'NxCxHxW: skipped, ...'``).
    """
    generator = torch.Generator().manual_seed(seed)
    checks, skipped = [], []
    for shape in map(tuple, shapes):
        x = torch.randn(*shape, generator=generator)
        try:
            with torch.no_grad():
                expected = outputs(module(x))
        except Exception as err:  # the model's own limits: nothing promised there
            reason = ' '.join(str(err).split())[:200]
            skipped.append(f'{_size(shape)}: skipped, PyTorch cannot run it either ({reason})')
            continue
        try:
            got = run(x)
        except Exception as err:  # whatever the runtime raises is the file's failure
            ref = max(b.abs().max().item() for b in expected)
            message = (
                f'the exported model fails: {type(err).__name__}: {" ".join(str(err).split())}'
            )
            checks.append(ParityCheck(shape, math.nan, ref, atol + rtol * ref, message[:300]))
            continue
        checks.append(_compare(got, expected, shape, atol, rtol))
    return checks, skipped
