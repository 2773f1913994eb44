"""Deployment export: ONNX, TorchScript and ``torch.export``, checked against PyTorch.

What ``tools/export.py`` does. The model a config builds (optionally with a
checkpoint) is put in eval mode and wrapped so that it maps a preprocessed
image batch ``(N, C, H, W)`` to the classifier's logits (``mode='tensor'``;
mmdeploy's convention: normalisation stays outside the exported graph).
It is then written in one of three formats:

* ``onnx``: :func:`torch.onnx.export` (the ``torch.export``-based exporter)
  at opset :data:`DEFAULT_OPSET`, with a dynamic batch axis and, on request,
  dynamic height and width; checked with onnxruntime (CPU).
* ``torchscript``: :func:`torch.jit.trace`, saved with ``torch.jit.save``.
* ``export``: :func:`torch.export.export`, saved with ``torch.export.save``
  (``.pt2``), with the same dynamic axes as ONNX.

Export traces the plain inference path: in eval mode without gradients the
SE and SK layers run ``mean`` / ``linear`` / ``sigmoid`` / ``softmax`` ops and
no custom ``autograd.Function`` (those are for eager training only, see
:mod:`se_plugin.models.layers.se_layer`). :func:`check_plain_graph` verifies
that the exported graph holds no Python autograd Function, and
:func:`check_parity` runs the exported file on random inputs of two batch
sizes (and a second image size with dynamic H/W) and compares its outputs with
the PyTorch model's.
"""

from __future__ import annotations

import copy
import os
import os.path as osp
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import torch
from torch import Tensor, nn

from se_plugin.export_options import (
    DEFAULT_BATCH_SIZES,
    DEFAULT_ONNX_EXPORTER,
    DEFAULT_OPSET,
    EXTENSIONS,
    FORMATS,
    ONNX_EXPORTERS,
)

EXAMPLE_BATCH = 2  # traced with 2 images: a batch of 1 would specialise the batch axis

__all__ = [
    'DEFAULT_ONNX_EXPORTER',
    'DEFAULT_OPSET',
    'ONNX_EXPORTERS',
    'EXTENSIONS',
    'FORMATS',
    'ExportError',
    'ExportResult',
    'InferenceModel',
    'ParityCheck',
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


def _outputs(value: Any) -> list:
    """A model's or runtime's outputs as a flat list of float64 CPU tensors."""
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _outputs(v)]
    return [torch.as_tensor(value).detach().cpu().double()]


def _dynamic_shapes(dynamic_hw: bool) -> tuple:
    dims = {0: torch.export.Dim.DYNAMIC}
    if dynamic_hw:
        dims.update({2: torch.export.Dim.DYNAMIC, 3: torch.export.Dim.DYNAMIC})
    return (dims,)


def _check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise ExportError(f'format must be one of {", ".join(FORMATS)}, got {fmt!r}')
    return fmt


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


def export_module(
    module: nn.Module,
    example: Tensor,
    out: str,
    fmt: str = 'onnx',
    dynamic_hw: bool = False,
    opset: int = DEFAULT_OPSET,
    onnx_exporter: str = DEFAULT_ONNX_EXPORTER,
) -> str:
    """Write ``module`` traced on ``example`` to ``out`` in format ``fmt``.

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
    _check_format(fmt)
    if fmt == 'export' and not out.endswith('.pt2'):
        raise ExportError(f'torch.export archives must end in .pt2, got {out!r}')
    if onnx_exporter not in ONNX_EXPORTERS:
        raise ExportError(
            f'onnx_exporter must be one of {", ".join(ONNX_EXPORTERS)}, got {onnx_exporter!r}'
        )
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    with torch.no_grad():
        if fmt == 'torchscript' or (fmt == 'onnx' and onnx_exporter == 'torchscript'):
            exported = torch.jit.trace(module, example, check_trace=False)
        else:
            dynamic = _dynamic_shapes(dynamic_hw)
            exported = torch.export.export(module, (example,), dynamic_shapes=dynamic, strict=False)
        check_plain_graph(exported, fmt)
        if fmt == 'torchscript':
            torch.jit.save(exported, out)
        elif fmt == 'export':
            torch.export.save(exported, out)
        else:
            _export_onnx(exported, example, out, dynamic_hw, opset)
    return out


def _export_onnx(exported: Any, example: Tensor, out: str, dynamic_hw: bool, opset: int) -> None:
    """ONNX from a TorchScript trace (legacy exporter) or an ``ExportedProgram``."""
    if isinstance(exported, torch.export.ExportedProgram):
        program = torch.onnx.export(
            exported, (example,), input_names=['input'], opset_version=opset, dynamo=True
        )
        program.save(out, external_data=False)
        return
    axes = {0: 'batch', 2: 'height', 3: 'width'} if dynamic_hw else {0: 'batch'}
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', category=FutureWarning)  # dynamo=False is deprecated
        # a traced module has no Python signature: nothing to reorder, torch says so
        warnings.filterwarnings('ignore', message='no signature found for <torch.ScriptMethod')
        torch.onnx.export(
            exported,
            (example,),
            out,
            input_names=['input'],
            opset_version=opset,
            dynamic_axes={'input': axes},
            dynamo=False,
        )


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
        return lambda x: _outputs(session.run(None, {name: x.numpy()}))
    module = torch.jit.load(path) if fmt == 'torchscript' else torch.export.load(path).module()

    def run(x: Tensor) -> list:
        with torch.no_grad():
            return _outputs(module(x))

    return run


@dataclass
class ParityCheck:
    """One comparison of the exported model with PyTorch."""

    shape: tuple
    max_abs_diff: float
    max_abs_ref: float
    tolerance: float

    @property
    def ok(self) -> bool:
        return self.max_abs_diff <= self.tolerance


def parity_shapes(
    input_shape: Sequence[int],
    batch_sizes: Sequence[int] = DEFAULT_BATCH_SIZES,
    dynamic_hw: bool = False,
) -> list:
    """The input shapes to check: ``input_shape`` at each batch size; with
    ``dynamic_hw`` the last one is also 1/4 larger in height and width."""
    c, h, w = input_shape
    shapes = [(n, c, h, w) for n in batch_sizes]
    if dynamic_hw:
        shapes[-1] = (shapes[-1][0], c, h + max(1, h // 4), w + max(1, w // 4))
    return shapes


def check_parity(
    module: nn.Module,
    run: Callable[[Tensor], list],
    shapes: Sequence[Sequence[int]],
    atol: float = 1e-4,
    rtol: float = 1e-4,
    seed: int = 0,
) -> list:
    """Compare ``run`` (an exported model) with ``module`` on random inputs.

    Args:
        module (nn.Module): The PyTorch model (eval mode).
        run (Callable): The exported model, as :func:`load_exported` returns it.
        shapes (Sequence): Input shapes ``(N, C, H, W)``, one check each.
        atol (float): Absolute tolerance. Default: 1e-4.
        rtol (float): Tolerance relative to the largest output magnitude of
            PyTorch. Default: 1e-4.
        seed (int): Seed of the random inputs. Default: 0.

    Returns:
        list[ParityCheck]: One per shape.
    """
    generator = torch.Generator().manual_seed(seed)
    checks = []
    for shape in shapes:
        x = torch.randn(*shape, generator=generator)
        with torch.no_grad():
            expected = _outputs(module(x))
        got = run(x)
        if len(got) != len(expected) or any(a.shape != b.shape for a, b in zip(got, expected)):
            raise ExportError(
                f'exported outputs {[tuple(t.shape) for t in got]} for input {tuple(shape)}, '
                f'PyTorch gives {[tuple(t.shape) for t in expected]}'
            )
        diff = max((a - b).abs().max().item() for a, b in zip(got, expected))
        ref = max(b.abs().max().item() for b in expected)
        checks.append(ParityCheck(tuple(shape), diff, ref, atol + rtol * ref))
    return checks


@dataclass
class ExportResult:
    """What :func:`export_model` wrote and how it compared with PyTorch."""

    path: str
    fmt: str
    opset: Optional[int]
    dynamic_hw: bool
    checks: list = field(default_factory=list)
    onnx_exporter: Optional[str] = None

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    @property
    def max_abs_diff(self) -> float:
        return max((c.max_abs_diff for c in self.checks), default=0.0)


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

    Args:
        model (nn.Module): A classifier (logits are exported), backbone or
            any module taking an image batch.
        out (str): Output file.
        input_shape (Sequence[int]): ``(C, H, W)`` of one image.
        fmt (str): ``'onnx'``, ``'torchscript'`` or ``'export'``. Default: 'onnx'.
        dynamic_hw (bool): Dynamic height and width. Default: False.
        opset (int): ONNX opset. Default: :data:`DEFAULT_OPSET`.
        batch_sizes (Sequence[int]): Batch sizes of the parity check.
            Default: (1, 3).
        atol (float): See :func:`check_parity`. Default: 1e-4.
        rtol (float): See :func:`check_parity`. Default: 1e-4.
        onnx_exporter (str): See :func:`export_module`. Default: 'torchscript'.

    Returns:
        ExportResult: The file and the parity checks (``.ok`` is False on a mismatch).
    """
    _check_format(fmt)
    if len(input_shape) != 3:
        raise ExportError(f'input_shape must be (C, H, W), got {tuple(input_shape)}')
    if len(batch_sizes) < 1 or any(int(n) < 1 for n in batch_sizes):
        raise ExportError(f'batch sizes must be >= 1, got {tuple(batch_sizes)}')
    module = model if isinstance(model, InferenceModel) else InferenceModel(model)
    example = torch.randn(EXAMPLE_BATCH, *input_shape, generator=torch.Generator().manual_seed(1))
    export_module(module, example, out, fmt, dynamic_hw, opset, onnx_exporter)
    shapes = parity_shapes(input_shape, batch_sizes, dynamic_hw)
    checks = check_parity(module, load_exported(out, fmt), shapes, atol, rtol)
    onnx = fmt == 'onnx'
    return ExportResult(
        out, fmt, opset if onnx else None, dynamic_hw, checks, onnx_exporter if onnx else None
    )


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
    **kwargs,
) -> ExportResult:
    """Build ``config``'s model, load ``checkpoint`` and :func:`export_model` it.

    Args:
        config (str): Config file.
        out (str): Output file.
        checkpoint (str, optional): Weights (strictly loaded); random ones
            without. Default: None.
        fmt (str): Export format. Default: 'onnx'.
        shape (Sequence[int], optional): ``--shape`` (S, H W or C H W); None
            reads the test-time image size from the config. Default: None.
        cfg_options (Mapping, optional): ``--cfg-options``. Default: None.
        **kwargs: Further arguments of :func:`export_model`.
    """
    from se_plugin.analysis.complexity import build_model, resolve_input_shape
    from se_plugin.cli import load_config

    cfg = load_config(config, cfg_options)
    input_shape = resolve_input_shape(cfg, shape, config)
    model = build_model(copy.deepcopy(cfg))
    if checkpoint:
        load_weights(model, checkpoint)
    return export_model(model, out, input_shape, fmt, **kwargs)


def format_result(result: ExportResult) -> str:
    """Lines for the tool: the file, then one parity line per checked input."""
    what = result.fmt
    if result.fmt == 'onnx':
        what += f' (opset {result.opset}, {result.onnx_exporter} exporter)'
    axes = 'batch, height, width' if result.dynamic_hw and result.fmt != 'torchscript' else 'batch'
    lines = [f'saved {result.path}: {what}, dynamic axes: {axes}']
    for check in result.checks:
        verdict = 'ok' if check.ok else 'MISMATCH'
        lines.append(
            f'  input {"x".join(map(str, check.shape))}: max abs difference vs PyTorch '
            f'{check.max_abs_diff:.3g} (max |output| {check.max_abs_ref:.3g}, '
            f'tolerance {check.tolerance:.3g}) {verdict}'
        )
    return '\n'.join(lines)
