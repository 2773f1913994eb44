"""Properties of the module's derivatives: gradients, double backward, forward-mode AD.

The truth is a central finite difference along one random direction of the
input and every trainable parameter (float64, step ``EPS``), and for a
module with implementation modes also its reference mode. Double backward
and forward-mode AD may be refused: a ``RuntimeError`` with a message (e.g. a
custom ``autograd.Function`` without ``jvp``) is a clear refusal, reported as
a note; silently wrong numbers are a failure.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import NamedTuple, Optional

import torch
from torch import Tensor, nn
from torch.autograd import forward_ad as fwAD

from .subject import STEP_SEED, Failure, Subject, describe, during, loss_weights, require_close

EPS = 1e-6  # finite-difference step (float64)
FD_TOL = 1e-5  # relative to |gradient| * |direction| (or to the largest tangent)
DIRECTION_SEED = 4


class Direction(NamedTuple):
    """A direction in the space of the input and the trainable parameters."""

    x: Tensor
    params: dict


def _direction(model: nn.Module, x: Tensor, with_params: bool = True) -> Direction:
    generator = torch.Generator().manual_seed(DIRECTION_SEED)

    def draw(t: Tensor) -> Tensor:
        return torch.randn(t.shape, generator=generator, dtype=t.dtype)

    params = {n: draw(p) for n, p in model.named_parameters() if p.requires_grad}
    return Direction(draw(x), params if with_params else {})


def _trainable(model: nn.Module) -> tuple:
    return tuple(zip(*[(n, p) for n, p in model.named_parameters() if p.requires_grad])) or ((), ())


def _forward(model: nn.Module, x: Tensor, train: bool) -> Tensor:
    """``model`` on a copy of ``x`` (as :func:`~.subject.step`)."""
    model.train(train)
    torch.manual_seed(STEP_SEED)
    return model(x.clone())


def _dot(grads: dict, direction: Direction) -> float:
    """``<grads, direction>`` over the input (key ``None``) and the parameters."""
    total = (grads[None] * direction.x).sum() if grads.get(None) is not None else 0.0
    for name, d in direction.params.items():
        if grads.get(name) is not None:
            total = total + (grads[name] * d).sum()
    return float(total)


def _finite_difference(fn: Callable, make: Callable, x: Tensor, direction: Direction) -> tuple:
    """``(fn(theta + EPS d) - fn(theta - EPS d)) / (2 EPS)`` over fresh copies of the module,
    and the rounding error to allow for (``fn``'s values are rounded before they are
    subtracted)."""
    values = []
    for t in (EPS, -EPS):
        model = make()
        with torch.no_grad():
            for name, p in model.named_parameters():
                if name in direction.params:
                    p.add_(t * direction.params[name])
        values.append(fn(model, x + t * direction.x).detach())
    rounding = 1e-9 * float(torch.stack([v.abs().max() for v in values]).max())
    return (values[0] - values[1]) / (2 * EPS), rounding


def _require_directional(what: str, analytic: float, fd: tuple, scale: float) -> None:
    """``analytic`` (a directional derivative) within ``FD_TOL * scale`` of finite differences."""
    value, rounding = float(fd[0]), fd[1]
    if abs(analytic - value) > FD_TOL * max(scale, abs(value)) + rounding:
        raise Failure(
            f'{what}: {analytic:.6g} along a random direction, finite differences {value:.6g}'
        )


def _norm(tensors) -> float:
    return float(sum(t.detach().square().sum() for t in tensors if t is not None) ** 0.5)


def _loss(train: bool) -> Callable:
    def loss(model: nn.Module, x: Tensor) -> Tensor:
        with torch.no_grad():
            out = _forward(model, x, train)
            return (out * loss_weights(out)).sum()

    return loss


def _loss_grads(model: nn.Module, x: Tensor, train: bool) -> dict:
    names, params = _trainable(model)
    leaf = x.clone().requires_grad_()
    out = _forward(model, leaf, train)
    grads = torch.autograd.grad((out * loss_weights(out)).sum(), [leaf, *params], allow_unused=True)
    return dict(zip([None, *names], grads))


def check_gradient(subject: Subject) -> None:
    """Input and parameter gradients equal finite differences (training and inference)."""
    direction = _direction(subject.build(), subject.x)
    for train in (True, False):
        mode = 'train' if train else 'eval'
        with during(f'forward and backward ({mode})'):
            grads = _loss_grads(subject.build(), subject.x, train)
            fd = _finite_difference(_loss(train), subject.build, subject.x, direction)
        scale = _norm(grads.values()) * _norm([direction.x, *direction.params.values()])
        _require_directional(f'the gradient ({mode})', _dot(grads, direction), fd, scale)


def _penalty_value(model: nn.Module, leaf: Tensor, train: bool, create_graph: bool) -> Tensor:
    """``|d loss / d x|^2`` (a gradient penalty) at ``leaf`` (a tensor that requires grad)."""
    with torch.enable_grad():
        out = _forward(model, leaf, train)
        loss = (out * loss_weights(out)).sum()
        (gx,) = torch.autograd.grad(loss, leaf, create_graph=create_graph)
    return gx.square().sum()


def _penalty(train: bool) -> Callable:
    def penalty(model: nn.Module, x: Tensor) -> Tensor:
        return _penalty_value(model, x.detach().clone().requires_grad_(), train, False)

    return penalty


def _penalty_grads(model: nn.Module, x: Tensor, train: bool) -> dict:
    """Gradients of the gradient penalty w.r.t. the input (key None) and the parameters."""
    names, params = _trainable(model)
    leaf = x.clone().requires_grad_()
    value = _penalty_value(model, leaf, train, True)
    if not value.requires_grad:  # the input gradient is constant: no second derivative
        return dict.fromkeys([None, *names])
    grads = torch.autograd.grad(value, [leaf, *params], allow_unused=True)
    return dict(zip([None, *names], grads))


def _attempt(what: str, notes: list, fn: Callable, *args):
    """``fn(*args)``, or None after noting a clear refusal (a RuntimeError with a message)."""
    try:
        return fn(*args)
    except RuntimeError as error:
        if not str(error).strip():
            raise Failure(f'{what} raised a {type(error).__name__} without a message') from error
        notes.append(f'{what} refused: {describe(error)}')
        return None
    except Failure:
        raise
    except Exception as error:
        raise Failure(f'{what} raised {describe(error)}') from error


def _compare_dicts(what: str, got: dict, expected: dict) -> None:
    for name in got:
        part = 'input' if name is None else name
        require_close(f'{what}, gradient of {part}', got[name], expected.get(name))


def check_double_backward(subject: Subject) -> Optional[str]:
    """Gradients of a gradient penalty equal finite differences and the reference mode's,
    or are refused with a clear error."""
    direction = _direction(subject.build(), subject.x)
    notes = []
    for train in (True, False):
        mode = 'train' if train else 'eval'
        what = f'double backward ({mode})'
        got = _attempt(what, notes, _penalty_grads, subject.build(), subject.x, train)
        if got is None:
            continue
        reference = subject.reference()
        if reference is not None:
            with during(f'double backward of the reference ({mode})'):
                expected = _penalty_grads(reference, subject.x, train)
            _compare_dicts(f'{what} vs the reference', got, expected)
        with during(f'the gradient penalty ({mode})'):
            fd = _finite_difference(_penalty(train), subject.build, subject.x, direction)
        scale = _norm(got.values()) * _norm([direction.x, *direction.params.values()])
        _require_directional(what, _dot(got, direction), fd, scale)
    return '; '.join(notes) or None


def _tangent_dual(model: nn.Module, x: Tensor, direction: Direction, train: bool) -> Tensor:
    """The output's tangent along ``direction.x`` (``torch.autograd.forward_ad``)."""
    with fwAD.dual_level(), warnings.catch_warnings():
        # torch's forward-AD formulas script a helper on first use
        warnings.filterwarnings('ignore', '`torch.jit.script` is deprecated', FutureWarning)
        out = _forward(model, fwAD.make_dual(x, direction.x), train)
        tangent = fwAD.unpack_dual(out).tangent
    return torch.zeros_like(out) if tangent is None else tangent


def _tangent_func(model: nn.Module, x: Tensor, direction: Direction, train: bool) -> Tensor:
    """The output's tangent along the input and the parameters (``torch.func.jvp``)."""
    names = list(direction.params)
    params = tuple(p.detach() for n, p in model.named_parameters() if n in direction.params)

    def run(x: Tensor, params: tuple) -> Tensor:
        values = dict(zip(names, params))
        return torch.func.functional_call(model, values, (x.clone(),))

    model.train(train)
    torch.manual_seed(STEP_SEED)
    tangents = (direction.x, tuple(direction.params[n] for n in names))
    return torch.func.jvp(run, (x, params), tangents)[1]


def _output(train: bool) -> Callable:
    def output(model: nn.Module, x: Tensor) -> Tensor:
        with torch.no_grad():
            return _forward(model, x, train)

    return output


# (what, how, train, along the parameters too); no torch.func in training: it refuses
# the in-place update of a training batch norm's statistics, in any module
FORWARD_AD_RUNS = (
    ('forward_ad.dual_level (train)', _tangent_dual, True, False),
    ('forward_ad.dual_level (eval)', _tangent_dual, False, False),
    ('torch.func.jvp (eval)', _tangent_func, False, True),
)


def check_forward_ad(subject: Subject) -> Optional[str]:
    """Forward-mode AD (the dual API along the input, ``torch.func.jvp`` along the input and
    the parameters) equals finite differences and the reference mode's, or is refused with
    a clear error."""
    notes = []
    for what, tangent, train, with_params in FORWARD_AD_RUNS:
        direction = _direction(subject.build(), subject.x, with_params)
        got = _attempt(what, notes, tangent, subject.build(), subject.x, direction, train)
        if got is None:
            continue
        reference = subject.reference()
        if reference is not None:
            with during(f'{what} of the reference'):
                expected = tangent(reference, subject.x, direction, train)
            require_close(f'{what} vs the reference', got, expected)
        with during(f'the forward ({"train" if train else "eval"})'):
            fd, rounding = _finite_difference(_output(train), subject.build, subject.x, direction)
        atol = FD_TOL * float(fd.abs().max()) + rounding
        require_close(f'{what} vs finite differences', got, fd, rtol=FD_TOL, atol=atol)
    return '; '.join(notes) or None
