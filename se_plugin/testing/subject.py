"""The module under test, and the runs and comparisons every property of the kit shares.

:class:`Subject` builds fresh copies of the module (alone or in a block's slot)
with the same, deliberately non-trivial weights; :func:`step` runs one
training or inference step and returns everything a step produces;
:func:`difference` says in one line how two tensors differ.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import NamedTuple, Optional

import torch
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

from se_plugin.models.builder import build_model

from .slot import REFERENCE_IMPL, block_with, implementation_modes

SEED = 0  # of the weights
INPUT_SEED = 1
STEP_SEED = 2  # set before every forward: random modules draw the same numbers in each run
OTHER_SEED = 3
BATCH = 3
SIZE = (5, 6)


class Failure(AssertionError):
    """A broken property; its message is the one-line reason."""


class Step(NamedTuple):
    """What one step of a model gives: output, input gradient, parameter gradients, buffers."""

    out: Tensor
    grad_x: Optional[Tensor]
    grads: dict
    buffers: dict


def loss_weights(out: Tensor) -> Tensor:
    """Fixed weights of a step's loss ``sum(weights * out)`` (a plain sum hides too much)."""
    return torch.linspace(-1, 1, out.numel(), dtype=out.dtype).reshape(out.shape)


def step(model: nn.Module, x: Tensor, train: bool = True, backward: bool = True) -> Step:
    """One step of ``model`` on a copy of ``x``: the forward, and a backward of the weighted
    sum (``input_kept`` checks that the module leaves its input alone; the other
    properties are not confused by a module that does not)."""
    model.train(train)
    model.zero_grad(set_to_none=True)
    leaf = x.detach().clone().requires_grad_(backward)
    torch.manual_seed(STEP_SEED)
    with torch.set_grad_enabled(backward):
        out = model(leaf.clone())  # not a leaf (as in a network): an in-place op is no error
        if not isinstance(out, Tensor):
            raise Failure(f'the module returned a {type(out).__name__}, not a tensor')
        if backward:
            (out * loss_weights(out)).sum().backward()
    grads = {name: p.grad for name, p in model.named_parameters() if p.grad is not None}
    buffers = {name: b.detach().clone() for name, b in model.named_buffers()}
    return Step(out.detach(), leaf.grad, grads, buffers)


def difference(actual, expected, rtol: float = 1e-7, atol: float = 1e-7) -> Optional[str]:
    """How ``actual`` differs from ``expected`` (tensors or None), in one line; None if close."""
    if actual is None or expected is None:
        other = expected if actual is None else actual
        if other is None or not other.detach().any():
            return None  # no gradient and a zero gradient are the same
        return 'missing' if actual is None else 'unexpected (expected none)'
    if actual.shape != expected.shape:
        return f'shape {tuple(actual.shape)} instead of {tuple(expected.shape)}'
    actual, expected = actual.detach().double(), expected.detach().double()
    bad = ~torch.isclose(actual, expected, rtol=rtol, atol=atol, equal_nan=True)
    if not bad.any():
        return None
    error = float((actual - expected).abs()[bad].max())
    scale = float(expected.abs().max())
    return (
        f'{int(bad.sum())} of {bad.numel()} values differ (max diff {error:.3g}, max {scale:.3g})'
    )


def require_close(what: str, actual, expected, **tol) -> None:
    """Raise :class:`Failure` naming ``what`` if ``actual`` and ``expected`` differ."""
    diff = difference(actual, expected, **tol)
    if diff is not None:
        raise Failure(f'{what}: {diff}')


def require_same_step(what: str, got: Step, expected: Step, **tol) -> None:
    """Raise :class:`Failure` at the first part of a step that differs."""
    require_close(f'{what}: output', got.out, expected.out, **tol)
    require_close(f'{what}: input gradient', got.grad_x, expected.grad_x, **tol)
    for name in sorted(set(got.grads) | set(expected.grads)):
        got_grad, expected_grad = got.grads.get(name), expected.grads.get(name)
        require_close(f'{what}: gradient of {name}', got_grad, expected_grad, **tol)
    if got.buffers.keys() != expected.buffers.keys():
        raise Failure(
            f'{what}: buffers {sorted(got.buffers)} instead of {sorted(expected.buffers)}'
        )
    for name in got.buffers:
        require_close(f'{what}: buffer {name}', got.buffers[name], expected.buffers[name], **tol)


@contextlib.contextmanager
def during(what: str) -> Iterator[None]:
    """Report an exception raised by the module as a failure of ``what`` (a one-line reason)."""
    try:
        yield
    except Failure:
        raise
    except Exception as error:
        raise Failure(f'{what} raised {describe(error)}') from error


def describe(error: BaseException) -> str:
    """``Type: first line of the message``, shortened to one readable line."""
    lines = str(error).strip().splitlines()
    text = lines[0] if lines else '(no message)'
    text = text if len(text) <= 160 else text[:157] + '...'
    return f'{type(error).__name__}: {text}'


def perturb(model: nn.Module, seed: int = SEED) -> nn.Module:
    """Non-trivial weights and statistics, in place: zero-initialised gates and default
    norm statistics would make a wrong path look right.

    Each parameter is scaled by a random factor in [0.8, 1.2] (its sign kept);
    parameters that are exactly zero get small random values; batch-norm running
    statistics are drawn (mean in [-0.2, 0.2], variance in [0.5, 1.5]).
    """
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            if p.is_floating_point():
                factor = torch.rand(p.shape, generator=generator, dtype=p.dtype)
                noise = torch.randn(p.shape, generator=generator, dtype=p.dtype)
                p.copy_(torch.where(p == 0, 0.3 * noise, p * (0.8 + 0.4 * factor)))
        for norm in model.modules():
            if isinstance(norm, _BatchNorm) and norm.track_running_stats:
                mean, var = norm.running_mean, norm.running_var
                mean.copy_(torch.rand(mean.shape, generator=generator) * 0.4 - 0.2)
                var.copy_(torch.rand(var.shape, generator=generator) + 0.5)
    return model


class Subject:
    """The module under test: its config, channels, implementation modes and a sample input.

    Every copy is built afresh from the config with the same seed and
    :func:`perturb` (so that no property relies on ``deepcopy`` or
    ``load_state_dict``, themselves properties under test); a copy with other
    arguments (``impl``) loads the weights of the default one.

    Args:
        cfg (dict): The module's config without ``in_channels`` (``type`` a
            class or a registered name, and the module's arguments).
        in_channels (int): Channels of the input (and output).
    """

    def __init__(self, cfg: dict, in_channels: int) -> None:
        self.cfg = cfg
        self.channels = in_channels
        module = self._build(cfg)
        self.name = type(module).__name__
        self.modes = implementation_modes(type(module))
        self.weights = module.state_dict()
        self._sample = self.input()

    def _build(self, cfg: dict) -> nn.Module:
        torch.manual_seed(SEED)
        return perturb(build_model(dict(cfg, in_channels=self.channels)))

    def _build_block(self, cfg: dict, with_cp: bool) -> nn.Module:
        torch.manual_seed(SEED)
        return perturb(block_with(cfg, self.channels, with_cp=with_cp))

    @property
    def x(self) -> Tensor:
        """The sample input, a fresh copy each time (a module may write into its input)."""
        return self._sample.clone()

    def input(self, batch: int = BATCH, size: tuple = SIZE, dtype=torch.float64) -> Tensor:
        """A random ``(batch, C, *size)`` input (the same for the same arguments)."""
        generator = torch.Generator().manual_seed(INPUT_SEED)
        return torch.randn(batch, self.channels, *size, generator=generator).to(dtype)

    def build(self, dtype=torch.float64, **overrides) -> nn.Module:
        """A fresh copy of the module (``overrides`` change its arguments, e.g. ``impl``)."""
        module = self._build(dict(self.cfg, **overrides))
        if overrides:
            module.load_state_dict(self.weights)
        return module.to(dtype)

    def block(self, with_cp: bool = False, dtype=torch.float64, **overrides) -> nn.Module:
        """A fresh bottleneck with the module (``overrides`` applied) in its slot."""
        block = self._build_block(dict(self.cfg, **overrides), with_cp)
        if overrides:
            block.load_state_dict(self._build_block(self.cfg, with_cp=False).state_dict())
        return block.to(dtype)

    def build_other(self, dtype=torch.float64) -> nn.Module:
        """A fresh copy with other weights (another seed, as initialised)."""
        torch.manual_seed(OTHER_SEED)
        return build_model(dict(self.cfg, in_channels=self.channels)).to(dtype)

    @property
    def fast_modes(self) -> tuple:
        """The implementation modes other than the reference (each compared with it)."""
        return tuple(mode for mode in self.modes if mode != REFERENCE_IMPL)

    def reference(self, dtype=torch.float64) -> Optional[nn.Module]:
        """The module in its reference mode (None for a module without one)."""
        return self.build(dtype, impl=REFERENCE_IMPL) if REFERENCE_IMPL in self.modes else None
