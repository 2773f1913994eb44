"""Properties of the module's captured graphs: ``torch.jit.trace`` and ``torch.export``.

Each function takes a :class:`~.subject.Subject` and raises
:class:`~.subject.Failure` with a one-line reason when the property is broken.
A captured graph must hold the plain ops: a Python op or an autograd Function
in it is opaque to exporters and compilers.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator

import torch

from .subject import Failure, Subject, during, require_close

OTHER_INPUT_SEED = 5
# logs the graph of an export that fails on a data-dependent branch (the failure says why)
SHAPES_LOGGER = 'torch.fx.experimental.symbolic_shapes'


@contextlib.contextmanager
def _quiet(logger: str) -> Iterator[None]:
    """Only errors from ``logger`` inside the block."""
    log = logging.getLogger(logger)
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)


def _other_input(subject: Subject) -> torch.Tensor:
    """An input of the sample's shape with other values (a graph must not bake them in)."""
    generator = torch.Generator().manual_seed(OTHER_INPUT_SEED)
    return torch.randn(subject.x.shape, generator=generator, dtype=subject.x.dtype)


def _eager(subject: Subject, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return subject.build().eval()(x)


def check_trace(subject: Subject) -> None:
    """``torch.jit.trace`` (eval) holds no Python op and computes what eager mode does."""
    model = subject.build().eval()
    with during('torch.jit.trace'), warnings.catch_warnings():
        warnings.simplefilter('ignore', torch.jit.TracerWarning)
        warnings.simplefilter('ignore', FutureWarning)  # torch.jit.trace is deprecated
        traced = torch.jit.trace(model, subject.x, check_trace=False)
    if any(node.kind() == 'prim::PythonOp' for node in traced.inlined_graph.nodes()):
        raise Failure('the traced graph holds Python ops (an autograd Function or Python code)')
    for x in (subject.x, _other_input(subject)):
        with torch.no_grad(), during('the traced module'):
            got = traced(x)
        require_close('the traced module vs eager', got, _eager(subject, x))


def check_export(subject: Subject) -> None:
    """``torch.export`` (eval) holds no Python or autograd op and computes what eager mode does."""
    model = subject.build().eval()
    with during('torch.export.export'), _quiet(SHAPES_LOGGER):
        exported = torch.export.export(model, (subject.x,))
    ops = {str(node.target) for node in exported.graph.nodes if node.op == 'call_function'}
    opaque = sorted(op for op in ops if 'autograd' in op.lower() or 'python' in op.lower())
    if opaque:
        raise Failure(f'the exported graph holds {", ".join(opaque)}')
    for x in (subject.x, _other_input(subject)):
        with torch.no_grad(), during('the exported module'):
            got = exported.module()(x)
        require_close('the exported module vs eager', got, _eager(subject, x))
