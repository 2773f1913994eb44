"""Properties that compare the module with itself computed another way: in a
block against the plain composition, in a checkpointed block, in each
implementation mode, under bf16 autocast.

Each function takes a :class:`~.subject.Subject` and raises
:class:`~.subject.Failure` with a one-line reason when the property is broken.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn

from .slot import RECOMPUTE_IMPL, REFERENCE_IMPL, plain_composition, recomputes, slot_of
from .subject import Failure, Step, Subject, during, require_same_step, step


def _count_calls(module: nn.Module) -> list:
    """A list that grows by one at each call of ``module`` (a forward pre-hook)."""
    calls = []
    module.register_forward_pre_hook(lambda m, args: calls.append(1))
    return calls


def _count_forwards(module: nn.Module) -> list:
    """A list that grows by one at each run of ``module.forward``, without a hook (which
    would switch off fast paths): a fast path that folds the module into a Function
    runs none."""
    calls, forward = [], module.forward

    def counted(*args, **kwargs):
        calls.append(1)
        return forward(*args, **kwargs)

    module.forward = counted
    return calls


def check_with_cp(subject: Subject) -> None:
    """In a block with ``with_cp=True`` the branch is recomputed once in the backward (the
    module too), leaving the outputs, gradients and running statistics of ``with_cp=False``."""
    plain, checkpointed = subject.block(), subject.block(with_cp=True)
    # the branch's first conv: a hook there leaves the slot's fast paths alone
    branch_calls = _count_calls(plain.conv1), _count_calls(checkpointed.conv1)
    forwards = _count_forwards(slot_of(checkpointed))
    for i in range(2):  # the second step sees updated running statistics
        with during(f'train step {i + 1} of the block (with_cp=False, then True)'):
            expected, got = step(plain, subject.x), step(checkpointed, subject.x)
        require_same_step(f'with_cp=True, train step {i + 1}', got, expected)
    if len(branch_calls[1]) != 2 * len(branch_calls[0]):
        raise Failure(
            f'with_cp=True ran the branch {len(branch_calls[1])} times in 2 train steps, '
            f'not {2 * len(branch_calls[0])} (a forward and one recomputation each)'
        )
    if len(forwards) > 4:
        raise Failure(
            f'with_cp=True ran the module {len(forwards)} times in 2 train steps, more than 4 '
            '(the forward and one recomputation each)'
        )
    _check_with_cp_and_a_hook(subject)


def _slot_calls(subject: Subject, with_cp: bool, backward: bool = True) -> tuple:
    """A train step of a block whose slot module and its submodules count their calls
    (only the forward, with gradient, without ``backward``): the step (or None) and the
    counts, by submodule name (``''``: the module)."""
    block = subject.block(with_cp=with_cp)
    calls = {name: _count_calls(m) for name, m in slot_of(block).named_modules()}
    if backward:
        result = step(block, subject.x)
    else:
        block.train()
        block(subject.x.requires_grad_().clone())
        result = None
    return result, {name: len(c) for name, c in calls.items()}


def _check_with_cp_and_a_hook(subject: Subject) -> None:
    """Each part of the module runs at most twice per forward call (the forward and one
    recomputation, the block's or its own) and at least once; a recomputation stops once
    it has what the backward saved (torch's early stop), so it may not reach the module."""
    with during('a train step of a block with hooks on its slot (with_cp=False, then True)'):
        _, forward = _slot_calls(subject, with_cp=False, backward=False)
        expected, plain = _slot_calls(subject, with_cp=False)
        got, checkpointed = _slot_calls(subject, with_cp=True)
    require_same_step('with_cp=True, hooks on the slot', got, expected)
    extra = [n for n in plain if not forward[n] <= checkpointed[n] <= max(plain[n], 2 * forward[n])]
    if extra:
        runs = ', '.join(f'{n or "the module"} {checkpointed[n]}' for n in extra)
        raise Failure(
            f'with_cp=True: calls in a train step: {runs}; each should run at least once and at '
            'most twice per forward call (its forward and one recomputation)'
        )


def _steps(model: nn.Module, x: Tensor) -> list:
    """Two train steps and an inference step (what every mode must give alike)."""
    return [step(model, x), step(model, x), step(model, x, train=False, backward=False)]


def check_in_block(subject: Subject) -> str:
    """In a block at the standard position, in each implementation mode, the block computes
    the plain composition ``module(norm(z)) + shortcut`` (outputs, gradients and buffers
    of two train steps and an eval step), whatever the module's ``forward_after_norm``
    does; with ``impl='recompute'`` a train step recomputes the module once in the
    backward (where the mechanism applies: :func:`~.slot.recomputes`)."""
    if not subject.modes:
        return 'no AttentionModule: a block calls it plainly'
    notes = []
    for mode in subject.modes:
        what = f'impl={mode!r} in a block'
        block, plain = subject.block(impl=mode), subject.block(impl=mode)
        plain_composition(slot_of(plain))
        with during(f'{what}: steps of the block and of the plain composition'):
            got, expected = _steps(block, subject.x), _steps(plain, subject.x)
        for i, (run, truth) in enumerate(zip(got, expected)):
            require_same_step(f'{what} vs module(norm(z)) + shortcut, step {i + 1}', run, truth)
        if mode == RECOMPUTE_IMPL:
            notes.append(_check_recomputed(subject))
    return '; '.join(note for note in notes if note) or None


def _check_recomputed(subject: Subject) -> Optional[str]:
    """``impl='recompute'`` runs the module's forward twice in a train step of a block (the
    forward and its recomputation in the backward), where the mechanism applies; a note
    where it declines."""
    block = subject.block(impl=RECOMPUTE_IMPL)
    if not recomputes(block):
        return "impl='recompute' declines in this block (hooks): not recomputed"
    forwards = _count_forwards(slot_of(block))
    with during("impl='recompute': a train step of the block"):
        step(block, subject.x)
    if len(forwards) != 2:
        raise Failure(
            f"impl='recompute': a train step of a block ran the module {len(forwards)} times, "
            'not twice (its forward and one recomputation in the backward)'
        )
    return None


def check_impls(subject: Subject) -> str:
    """Each implementation mode equals the reference mode, alone and in a block at the
    standard position: outputs, gradients and buffers of two train steps and an eval step."""
    if not subject.modes:
        return 'no implementation modes'
    if REFERENCE_IMPL not in subject.modes:
        raise Failure(
            f'impls {subject.modes} lack {REFERENCE_IMPL!r} (plain autograd, what every mode '
            'is compared with)'
        )
    expected_alone = _steps(subject.reference(), subject.x)
    expected_block = _steps(subject.block(impl=REFERENCE_IMPL), subject.x)
    for mode in subject.fast_modes:
        with during(f'impl={mode!r}'):
            alone = _steps(subject.build(impl=mode), subject.x)
            in_block = _steps(subject.block(impl=mode), subject.x)
        for i, (got, expected) in enumerate(zip(alone, expected_alone)):
            require_same_step(f'impl={mode!r} vs {REFERENCE_IMPL!r}, step {i + 1}', got, expected)
        for i, (got, expected) in enumerate(zip(in_block, expected_block)):
            what = f'in a block, impl={mode!r} vs {REFERENCE_IMPL!r}, step {i + 1}'
            require_same_step(what, got, expected)
    return f'modes {", ".join(subject.modes)}'


# bf16 keeps 8 bits: the built-in modules stay within 1e-5 (outputs) and 1e-3
# (gradients) of a cosine of 1; a module below these thresholds computes
# something else under autocast
AUTOCAST_OUTPUT_COSINE = 0.99
AUTOCAST_GRAD_COSINE = 0.98


def _cosine(got: list, expected: list) -> float:
    a = torch.cat([t.float().flatten() for t in got])
    b = torch.cat([t.float().flatten() for t in expected])
    return float(torch.nn.functional.cosine_similarity(a, b, dim=0, eps=1e-12))


def _grads(run: Step, truth: Step) -> list:
    """``run``'s input and parameter gradients, in the order of ``truth``'s (zeros where none)."""
    names = sorted(truth.grads)
    return [run.grad_x, *(run.grads.get(n, torch.zeros_like(truth.grads[n])) for n in names)]


def check_autocast(subject: Subject) -> str:
    """Under bf16 autocast on the CPU the outputs and gradients stay close to fp32's
    (cosine similarities), in training and inference."""
    x = subject.x.float()
    notes = []
    for train in (True, False):
        mode = 'train' if train else 'eval'
        truth = step(subject.build(torch.float32), x, train=train)
        with torch.autocast('cpu', dtype=torch.bfloat16), during(f'a step under autocast ({mode})'):
            run = step(subject.build(torch.float32), x, train=train)
        if not torch.isfinite(run.out).all():
            raise Failure(f'non-finite output under bf16 autocast ({mode})')
        cosines = _cosine([run.out], [truth.out]), _cosine(_grads(run, truth), _grads(truth, truth))
        if cosines[0] < AUTOCAST_OUTPUT_COSINE or cosines[1] < AUTOCAST_GRAD_COSINE:
            raise Failure(
                f'under bf16 autocast ({mode}) the cosine similarity with fp32 is '
                f'{cosines[0]:.4f} for the output (at least {AUTOCAST_OUTPUT_COSINE}) and '
                f'{cosines[1]:.4f} for the gradients (at least {AUTOCAST_GRAD_COSINE})'
            )
        gaps = 1 - cosines[0], 1 - cosines[1]
        notes.append(f'{mode}: 1 - cosine {gaps[0]:.0e} (output), {gaps[1]:.0e} (grads)')
    return '; '.join(notes)
