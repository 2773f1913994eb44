"""Properties that compare the module with itself computed another way: in a
checkpointed block, in each implementation mode, under bf16 autocast.

Each function takes a :class:`~.subject.Subject` and raises
:class:`~.subject.Failure` with a one-line reason when the property is broken.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .slot import REFERENCE_IMPL, slot_of
from .subject import Failure, Step, Subject, during, require_same_step, step


def _count_calls(module: nn.Module) -> list:
    calls = []
    module.register_forward_pre_hook(lambda m, args: calls.append(1))
    return calls


def check_with_cp(subject: Subject) -> None:
    """In a block with ``with_cp=True`` the branch is recomputed once in the backward (the
    module too), leaving the outputs, gradients and running statistics of ``with_cp=False``."""
    plain, checkpointed = subject.block(), subject.block(with_cp=True)
    # the branch's first conv: a hook there leaves the slot's fast paths alone
    branch_calls = _count_calls(plain.conv1), _count_calls(checkpointed.conv1)
    for i in range(2):  # the second step sees updated running statistics
        with during(f'train step {i + 1} of the block (with_cp=False, then True)'):
            expected, got = step(plain, subject.x), step(checkpointed, subject.x)
        require_same_step(f'with_cp=True, train step {i + 1}', got, expected)
    if len(branch_calls[1]) != 2 * len(branch_calls[0]):
        raise Failure(
            f'with_cp=True ran the branch {len(branch_calls[1])} times in 2 train steps, '
            f'not {2 * len(branch_calls[0])} (a forward and one recomputation each)'
        )
    checkpointed = subject.block(with_cp=True)
    module_calls = _count_calls(slot_of(checkpointed))
    with during('a train step of a block with with_cp=True and a hook on its slot'):
        got = step(checkpointed, subject.x)
    require_same_step('with_cp=True, a hook on the slot', got, step(subject.block(), subject.x))
    if len(module_calls) != 2:
        raise Failure(
            f'with_cp=True: a pre-hook on the module fired {len(module_calls)} times in a '
            'train step, not 2 (the forward and one recomputation)'
        )


def _steps(model: nn.Module, x: Tensor) -> list:
    """Two train steps and an inference step (what every mode must give alike)."""
    return [step(model, x), step(model, x), step(model, x, train=False, backward=False)]


def check_impls(subject: Subject) -> str:
    """Each implementation mode equals the reference mode, alone and in a block at the
    standard position: outputs, gradients and buffers of two train steps and an eval step."""
    if not subject.modes:
        return 'no implementation modes'
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


# bf16 rounds to 8 bits: outputs agree with fp32 to a cosine of about 0.9999 and
# gradients (more rounded operations) to about 0.999; below these the module
# computes something else under autocast
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
        notes.append(f'{mode} cosines {cosines[0]:.4f}, {cosines[1]:.4f}')
    return '; '.join(notes)
