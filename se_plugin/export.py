"""Deployment export: ONNX, TorchScript and ``torch.export``, checked against PyTorch.

What ``tools/export.py`` does. The model a config builds (optionally with a
checkpoint) is put in eval mode and wrapped so that it maps a preprocessed
image batch ``(N, C, H, W)`` to the classifier's logits (``mode='tensor'``;
mmdeploy's convention: normalisation stays outside the exported graph).
It is then written in one of three formats:

* ``onnx``: :func:`torch.onnx.export` at opset :data:`DEFAULT_OPSET` (the
  range each exporter writes: :data:`OPSETS`), with a dynamic batch axis and,
  on request, dynamic height and width; checked with onnxruntime (CPU).
* ``torchscript``: :func:`torch.jit.trace`, saved with ``torch.jit.save``.
* ``export``: :func:`torch.export.export`, saved with ``torch.export.save``
  (``.pt2``), with the same dynamic axes as ONNX.

Export traces the plain inference path: in eval mode without gradients the
SE and SK layers run ``mean`` / ``linear`` / ``sigmoid`` / ``softmax`` ops and
no custom ``autograd.Function`` (those are for eager training only, see
:mod:`se_plugin.models.layers.se_layer`). :func:`check_plain_graph` verifies
that the exported graph holds no Python autograd Function, and
:func:`~se_plugin.export_parity.check_parity` runs the exported file on random
inputs at every batch size and, with dynamic height and width, at the sizes
that graph promises (:func:`~se_plugin.export_parity.parity_shapes`: down to
``1 x 1`` deepest feature maps) and compares its outputs with the PyTorch model's.

The file is written like every finished file of se_plugin
(:func:`~se_plugin.runtime.atomic.atomic_open`): to a temporary file next to
``out``, checked there, and renamed over ``out`` only when every parity check
passes. A failed export (a full disk, an exporter error) or a failed parity
check leaves no new file behind, and an earlier file at ``out`` unchanged.
"""

from __future__ import annotations

import copy
import math
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, Callable, Optional

import torch
from torch import Tensor, nn

from se_plugin.checks import check_int, check_real
from se_plugin.export_options import (
    DEFAULT_BATCH_SIZES,
    DEFAULT_ONNX_EXPORTER,
    DEFAULT_OPSET,
    EXTENSIONS,
    FORMATS,
    ONNX_EXPORTERS,
    OPSETS,
)
from se_plugin.export_parity import (
    ParityCheck,
    check_parity,
    outputs,
    parity_shapes,
    spatial_reduction,
)

EXAMPLE_BATCH = 2  # traced with 2 images: a batch of 1 would specialise the batch axis

__all__ = [
    'DEFAULT_ONNX_EXPORTER',
    'DEFAULT_OPSET',
    'ONNX_EXPORTERS',
    'OPSETS',
    'EXTENSIONS',
    'FORMATS',
    'ExportError',
    'ExportResult',
    'InferenceModel',
    'ParityCheck',
    'check_export_options',
    'check_parity',
    'check_plain_graph',
    'export_config',
    'export_model',
    'export_module',
    'format_result',
    'load_exported',
    'load_weights',
    'parity_shapes',
]


class ExportError(ValueError):
    """A model, checkpoint or option that cannot be exported as asked."""


class InferenceModel(nn.Module):
    """A model as deployed: preprocessed ``(N, C, H, W)`` images to output tensors.

    An mmengine ``BaseModel`` (e.g. mmpretrain's ``ImageClassifier``) is
    called with ``mode='tensor'`` (the classifier's logits; a backbone gives
    its feature maps); any other module is called on the batch alone.

    Args:
        model (nn.Module): The model; it is put in eval mode.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.eval()  # own line: mmpretrain's ResNet.train() returns None
        from mmengine.model import BaseModel

        self._tensor_mode = isinstance(model, BaseModel)

    def forward(self, inputs: Tensor) -> Any:
        if self._tensor_mode:
            out = self.model(inputs, mode='tensor')
        else:
            out = self.model(inputs)
        return tuple(out) if isinstance(out, list) else out


def _dynamic_shapes(dynamic_hw: bool) -> tuple:
    dims = {0: torch.export.Dim.DYNAMIC}
    if dynamic_hw:
        dims.update({2: torch.export.Dim.DYNAMIC, 3: torch.export.Dim.DYNAMIC})
    return (dims,)


def _check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise ExportError(f'format must be one of {", ".join(FORMATS)}, got {fmt!r}')
    return fmt


def _check_tolerance(name: str, value: Any) -> float:
    value = float(check_real(name, value))
    if value < 0:
        raise ExportError(f'{name} must be a finite number >= 0, got {value}')
    return value


def _check_input_shape(input_shape: Sequence[int]) -> tuple:
    if len(input_shape) != 3 or any(check_int('input size', v) < 1 for v in input_shape):
        raise ExportError(f'input_shape must be (C, H, W), ints >= 1, got {tuple(input_shape)}')
    return tuple(int(v) for v in input_shape)


def check_export_options(
    out: str,
    fmt: str = 'onnx',
    opset: int = DEFAULT_OPSET,
    onnx_exporter: str = DEFAULT_ONNX_EXPORTER,
    batch_sizes: Sequence[int] = DEFAULT_BATCH_SIZES,
    atol: float = 1e-4,
    rtol: float = 1e-4,
    input_shape: Optional[Sequence[int]] = None,
) -> dict:
    """The options of :func:`export_model`, checked before any work.

    Raises :class:`ExportError` (``TypeError`` for a value of the wrong type)
    naming the option, the value and what is allowed: a format of
    :data:`FORMATS`; a ``.pt2`` name for ``export``; an exporter of
    :data:`ONNX_EXPORTERS` and an opset in its :data:`OPSETS` range; batch
    sizes and input sizes ints >= 1; tolerances finite and >= 0.

    Returns:
        dict: The same options, normalised (ints, floats, tuples).
    """
    _check_format(fmt)
    if not isinstance(out, (str, os.PathLike)) or not os.fspath(out):
        raise ExportError(f'out must be a file path, got {out!r}')
    out = os.fspath(out)
    if fmt == 'export' and not out.endswith('.pt2'):
        raise ExportError(f'torch.export archives must end in .pt2, got {out!r}')
    if onnx_exporter not in ONNX_EXPORTERS:
        raise ExportError(
            f'onnx_exporter must be one of {", ".join(ONNX_EXPORTERS)}, got {onnx_exporter!r}'
        )
    opset = check_int('opset', opset)
    low, high = OPSETS[onnx_exporter]
    if fmt == 'onnx' and not low <= opset <= high:
        raise ExportError(
            f'opset must be in {low}..{high} for the {onnx_exporter} ONNX exporter, got {opset}'
        )
    batch_sizes = tuple(batch_sizes)
    if not batch_sizes:
        raise ExportError('batch sizes: give at least one')
    for n in batch_sizes:
        if check_int('batch size', n) < 1:
            raise ExportError(f'batch sizes must be >= 1, got {batch_sizes}')
    if input_shape is not None:
        input_shape = _check_input_shape(input_shape)
    return dict(
        out=out,
        fmt=fmt,
        opset=opset,
        onnx_exporter=onnx_exporter,
        batch_sizes=tuple(int(n) for n in batch_sizes),
        atol=_check_tolerance('atol', atol),
        rtol=_check_tolerance('rtol', rtol),
        input_shape=input_shape,
    )


def check_plain_graph(exported: Any, fmt: str) -> None:
    """Raise :class:`ExportError` if an exported graph calls a Python autograd Function.

    Args:
        exported: A ``torch.jit.ScriptModule`` (``torchscript``) or a
            ``torch.export.ExportedProgram`` (``export``, ``onnx``).
        fmt (str): Its format.
    """
    if isinstance(exported, torch.jit.ScriptModule):
        found = [n.pyname() for n in exported.inlined_graph.nodes() if n.kind() == 'prim::PythonOp']
    else:
        found = [
            str(node.target)
            for node in exported.graph_module.graph.nodes
            if node.op == 'call_function' and 'autograd_function' in str(node.target)
        ]
    if found:
        raise ExportError(
            f'the {fmt} graph calls Python autograd Functions ({", ".join(sorted(set(found)))}): '
            'export needs the plain inference path (eval mode, no gradients)'
        )


def _trace(module: nn.Module, example: Tensor, fmt: str, dynamic_hw: bool, exporter: str):
    """The traced module (TorchScript) or ``ExportedProgram``, checked for a plain graph."""
    with torch.no_grad():
        if fmt == 'torchscript' or (fmt == 'onnx' and exporter == 'torchscript'):
            exported = torch.jit.trace(module, example, check_trace=False)
        else:
            dynamic = _dynamic_shapes(dynamic_hw)
            exported = torch.export.export(module, (example,), dynamic_shapes=dynamic, strict=False)
    check_plain_graph(exported, fmt)
    return exported


def _save(exported: Any, example: Tensor, f: IO[bytes], fmt: str, dynamic_hw: bool, opset: int):
    """Write ``exported`` to the open binary file ``f`` in format ``fmt``."""
    if fmt == 'torchscript':
        torch.jit.save(exported, f)
    elif fmt == 'export':
        torch.export.save(exported, f)
    elif isinstance(exported, torch.export.ExportedProgram):
        program = torch.onnx.export(
            exported, (example,), input_names=['input'], opset_version=opset, dynamo=True
        )
        program.save(f, external_data=False)
    else:
        axes = {0: 'batch', 2: 'height', 3: 'width'} if dynamic_hw else {0: 'batch'}
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', category=FutureWarning)  # dynamo=False is deprecated
            # a traced module has no Python signature: nothing to reorder, torch says so
            warnings.filterwarnings('ignore', message='no signature found for <torch.ScriptMethod')
            torch.onnx.export(
                exported,
                (example,),
                f,
                input_names=['input'],
                opset_version=opset,
                dynamic_axes={'input': axes},
                dynamo=False,
            )
    f.flush()


def _check_written_opset(path: str, opset: int) -> None:
    """The exporter wrote the opset asked for (the dynamo one may fall back silently)."""
    import onnx

    model = onnx.load(path, load_external_data=False)
    written = next((o.version for o in model.opset_import if o.domain in ('', 'ai.onnx')), None)
    if written != opset:
        raise ExportError(f'asked for ONNX opset {opset}, the exporter wrote opset {written}')


def export_module(
    module: nn.Module,
    example: Tensor,
    out: str,
    fmt: str = 'onnx',
    dynamic_hw: bool = False,
    opset: int = DEFAULT_OPSET,
    onnx_exporter: str = DEFAULT_ONNX_EXPORTER,
) -> str:
    """Write ``module`` traced on ``example`` to ``out`` in format ``fmt`` (atomically).

    Args:
        module (nn.Module): An eval-mode module (e.g. an :class:`InferenceModel`).
        example (Tensor): Example input ``(N, C, H, W)``; ``N`` should be > 1.
        out (str): Output file path (its folder is created).
        fmt (str): ``'onnx'``, ``'torchscript'`` or ``'export'``. Default: 'onnx'.
        dynamic_hw (bool): Also make height and width dynamic (``onnx`` and
            ``export``; a TorchScript trace takes any size its ops allow).
            Default: False.
        opset (int): ONNX opset. Default: :data:`DEFAULT_OPSET`.
        onnx_exporter (str): ``'torchscript'`` (``torch.onnx.export(...,
            dynamo=False)``, the trace-based exporter mmdeploy uses; ~8x faster
            here) or ``'dynamo'`` (built on ``torch.export``). Default: 'torchscript'.

    Returns:
        str: ``out``.
    """
    from se_plugin.runtime.atomic import atomic_open

    check_export_options(out, fmt, opset, onnx_exporter)
    exported = _trace(module, example, fmt, dynamic_hw, onnx_exporter)
    with atomic_open(out) as f:
        _save(exported, example, f, fmt, dynamic_hw, opset)
        if fmt == 'onnx':
            _check_written_opset(f.name, opset)
    return out


def load_exported(path: str, fmt: str) -> Callable[[Tensor], list]:
    """A function running the exported file: a batch to its list of output tensors.

    ONNX runs in onnxruntime's CPU provider; the others in torch.
    """
    _check_format(fmt)
    if fmt == 'onnx':
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        session = onnxruntime.InferenceSession(path, options, providers=['CPUExecutionProvider'])
        name = session.get_inputs()[0].name
        return lambda x: outputs(session.run(None, {name: x.numpy()}))
    if fmt == 'torchscript':
        module = torch.jit.load(path)
    else:
        with open(path, 'rb') as f:  # a buffer: torch.export.load wants .pt2 names otherwise
            module = torch.export.load(f).module()

    def run(x: Tensor) -> list:
        with torch.no_grad():
            return outputs(module(x))

    return run


@dataclass
class ExportResult:
    """What :func:`export_model` wrote and how it compared with PyTorch.

    ``saved`` is False when a parity check failed: ``path`` then holds what
    it held before (or nothing). ``notes`` has a line per input size that was
    not checked, and why.
    """

    path: str
    fmt: str
    opset: Optional[int]
    dynamic_hw: bool
    checks: list = field(default_factory=list)
    onnx_exporter: Optional[str] = None
    saved: bool = True
    notes: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    @property
    def max_abs_diff(self) -> float:
        diffs = [c.max_abs_diff for c in self.checks]
        return max(diffs, key=lambda d: math.inf if math.isnan(d) else d, default=0.0)


class _ParityFailed(Exception):
    """Raised inside the atomic write so that the checked file is not kept."""


def export_model(
    model: nn.Module,
    out: str,
    input_shape: Sequence[int],
    fmt: str = 'onnx',
    dynamic_hw: bool = False,
    opset: int = DEFAULT_OPSET,
    batch_sizes: Sequence[int] = DEFAULT_BATCH_SIZES,
    atol: float = 1e-4,
    rtol: float = 1e-4,
    onnx_exporter: str = DEFAULT_ONNX_EXPORTER,
) -> ExportResult:
    """Export ``model`` (eval mode, plain inference path) and check it against PyTorch.

    The file is checked as a temporary file next to ``out`` and replaces
    ``out`` only if every check passes (see the module docstring).

    Args:
        model (nn.Module): A classifier (logits are exported), backbone or
            any module taking an image batch.
        out (str): Output file.
        input_shape (Sequence[int]): ``(C, H, W)`` of one image.
        fmt (str): ``'onnx'``, ``'torchscript'`` or ``'export'``. Default: 'onnx'.
        dynamic_hw (bool): Dynamic height and width, checked at the sizes of
            :func:`~se_plugin.export_parity.parity_shapes`. Default: False.
        opset (int): ONNX opset, in the exporter's :data:`OPSETS` range.
            Default: :data:`DEFAULT_OPSET`.
        batch_sizes (Sequence[int]): Batch sizes of the parity check.
            Default: (1, 3).
        atol (float): Absolute tolerance (>= 0). Default: 1e-4.
        rtol (float): Tolerance relative to the largest PyTorch output (>= 0).
            Default: 1e-4.
        onnx_exporter (str): See :func:`export_module`. Default: 'torchscript'.

    Returns:
        ExportResult: The file and the parity checks (``.ok`` and ``.saved``
        are False on a mismatch).
    """
    options = check_export_options(
        out, fmt, opset, onnx_exporter, batch_sizes, atol, rtol, input_shape
    )
    return _export_checked(model, dynamic_hw=bool(dynamic_hw), **options)


def _export_checked(model: nn.Module, out: str, fmt: str, input_shape: tuple, **kw) -> ExportResult:
    """:func:`export_model` with options :func:`check_export_options` has checked."""
    from se_plugin.runtime.atomic import atomic_open

    dynamic_hw, opset, exporter = kw['dynamic_hw'], kw['opset'], kw['onnx_exporter']
    module = model if isinstance(model, InferenceModel) else InferenceModel(model)
    example = torch.randn(EXAMPLE_BATCH, *input_shape, generator=torch.Generator().manual_seed(1))
    exported = _trace(module, example, fmt, dynamic_hw, exporter)
    reduction = spatial_reduction(module, input_shape) if dynamic_hw else (1, 1)
    # torch.export assumes the sizes it traces are >= 2 (its 0/1 specialization):
    # its programs refuse 1x1 maps by design, so they are not asked for them
    smallest = 2 if fmt == 'export' else 1
    shapes = parity_shapes(input_shape, kw['batch_sizes'], dynamic_hw, reduction, smallest)
    onnx = fmt == 'onnx'
    result = ExportResult(
        out, fmt, opset if onnx else None, dynamic_hw, onnx_exporter=exporter if onnx else None
    )
    if dynamic_hw and fmt == 'export':
        size = 'x'.join(map(str, (kw['batch_sizes'][-1], input_shape[0], *reduction)))
        result.notes.append(
            f'{size}: not checked, 1x1 feature maps: torch.export programs refuse sizes 0 and 1 '
            'of what they trace'
        )
    try:
        with atomic_open(out) as f:
            _save(exported, example, f, fmt, dynamic_hw, opset)
            if onnx:
                _check_written_opset(f.name, opset)
            run = load_exported(f.name, fmt)
            result.checks, skipped = check_parity(module, run, shapes, kw['atol'], kw['rtol'])
            result.notes += skipped
            if not result.ok:
                raise _ParityFailed
    except _ParityFailed:
        result.saved = False
    return result


def load_weights(model: nn.Module, checkpoint: str) -> None:
    """Load ``checkpoint`` into ``model`` strictly; a misfit is an :class:`ExportError`."""
    from mmengine.runner import load_checkpoint

    from se_plugin.cli import check_checkpoint_file

    check_checkpoint_file(checkpoint)
    try:
        load_checkpoint(model, checkpoint, map_location='cpu', strict=True, logger='silent')
    except RuntimeError as err:  # strict loading: missing / unexpected / mis-shaped keys
        raise ExportError(f'checkpoint {checkpoint} does not fit the config: {err}') from None


def export_config(
    config: str,
    out: str,
    checkpoint: Optional[str] = None,
    fmt: str = 'onnx',
    shape: Optional[Sequence[int]] = None,
    cfg_options: Optional[Mapping[str, Any]] = None,
    dynamic_hw: bool = False,
    opset: int = DEFAULT_OPSET,
    batch_sizes: Sequence[int] = DEFAULT_BATCH_SIZES,
    atol: float = 1e-4,
    rtol: float = 1e-4,
    onnx_exporter: str = DEFAULT_ONNX_EXPORTER,
) -> ExportResult:
    """Build ``config``'s model, load ``checkpoint`` and :func:`export_model` it.

    The options are checked before the config is read.

    Args:
        config (str): Config file.
        out (str): Output file.
        checkpoint (str, optional): Weights (strictly loaded); random ones
            without. Default: None.
        fmt (str): Export format. Default: 'onnx'.
        shape (Sequence[int], optional): ``--shape`` (S, H W or C H W); None
            reads the test-time image size from the config. Default: None.
        cfg_options (Mapping, optional): ``--cfg-options``. Default: None.
        dynamic_hw, opset, batch_sizes, atol, rtol, onnx_exporter: As in
            :func:`export_model`.
    """
    from se_plugin.analysis.complexity import build_model, resolve_input_shape
    from se_plugin.cli import load_config

    options = check_export_options(out, fmt, opset, onnx_exporter, batch_sizes, atol, rtol)
    cfg = load_config(config, cfg_options)
    options['input_shape'] = _check_input_shape(resolve_input_shape(cfg, shape, config))
    model = build_model(copy.deepcopy(cfg))
    if checkpoint:
        load_weights(model, checkpoint)
    return _export_checked(model, dynamic_hw=bool(dynamic_hw), **options)


def _check_line(check: ParityCheck) -> str:
    where = f'  input {"x".join(map(str, check.shape))}: '
    if check.error is not None:
        return where + f'{check.error} MISMATCH'
    finite = math.isfinite(check.max_abs_diff)
    verdict = 'ok' if check.ok else 'MISMATCH' + ('' if finite else ' (non-finite output)')
    return where + (
        f'max abs difference vs PyTorch {check.max_abs_diff:.3g} (max |output| '
        f'{check.max_abs_ref:.3g}, tolerance {check.tolerance:.3g}) {verdict}'
    )


def format_result(result: ExportResult) -> str:
    """Lines for the tool: the file, one parity line per checked input, the sizes not checked."""
    what = result.fmt
    if result.fmt == 'onnx':
        what += f' (opset {result.opset}, {result.onnx_exporter} exporter)'
    axes = 'batch, height, width' if result.dynamic_hw else 'batch'
    if result.saved:
        head = f'saved {result.path}: {what}, dynamic axes: {axes}'
    else:
        head = (
            f'NOT saved {result.path}: {what}, dynamic axes: {axes}: the exported model does '
            'not match PyTorch (any earlier file there is unchanged)'
        )
    lines = [head, *map(_check_line, result.checks)]
    return '\n'.join(lines + [f'  input {note}' for note in result.notes])
