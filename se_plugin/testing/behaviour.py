"""Properties of the module as a layer: shape, batch, hooks, its input, copies.

Each function takes a :class:`~.subject.Subject`, raises
:class:`~.subject.Failure` with a one-line reason when the property is broken,
and returns None or a note.
"""

from __future__ import annotations

import copy
import io

import torch
from torch import Tensor, nn

from .slot import REFERENCE_IMPL, slot_of
from .subject import Failure, Subject, during, loss_weights, require_close, require_same_step, step

SIZES = ((5, 6), (7, 7), (1, 1), (1, 5), (4, 9))  # odd, even, single position, one row


def check_shape(subject: Subject) -> None:
    """``(N, C, H, W)`` in, the same shape and dtype out, finite, in training and inference."""
    for size in SIZES:
        x = subject.input(size=size)
        for train in (True, False):
            mode = 'train' if train else 'eval'
            with during(f'forward of a {tuple(x.shape)} input ({mode})'):
                out = step(subject.build(), x, train=train, backward=train).out
            if out.shape != x.shape or out.dtype != x.dtype:
                raise Failure(
                    f'a {tuple(x.shape)} {x.dtype} input ({mode}) gave a '
                    f'{tuple(out.shape)} {out.dtype} output'
                )
            if not torch.isfinite(out).all():
                raise Failure(f'non-finite output for a {tuple(x.shape)} input ({mode})')


def check_independence(subject: Subject) -> None:
    """In inference each sample's output depends on that sample alone (and not on its place)."""
    model, x = subject.build().eval(), subject.x
    with torch.no_grad(), during('forward (eval)'):
        whole = model(x.clone())
        alone = torch.cat([model(x[i : i + 1].clone()) for i in range(x.shape[0])])
        flipped = model(x.flip(0)).flip(0)
    require_close('in eval, outputs of samples run one by one vs in a batch', alone, whole)
    require_close('in eval, outputs of a batch in reverse order', flipped, whole)


def check_empty_batch(subject: Subject) -> None:
    """``N = 0``: forward and backward in training and inference, buffers left finite."""
    empty = subject.x[:0]
    for train in (True, False):
        mode = 'train' if train else 'eval'
        model = subject.build()
        with during(f'forward and backward of an empty batch ({mode})'):
            got = step(model, empty, train=train)
        if got.out.shape != empty.shape:
            raise Failure(f'an empty batch ({mode}) gave shape {tuple(got.out.shape)}')
        if got.grad_x is None or got.grad_x.shape != empty.shape:
            raise Failure(f'no input gradient of the shape of an empty batch ({mode})')
        with torch.no_grad(), during(f'forward of an empty batch without gradient ({mode})'):
            model(empty)
        for name, buffer in model.named_buffers():
            if buffer.is_floating_point() and not torch.isfinite(buffer).all():
                raise Failure(f'buffer {name} is not finite after an empty batch ({mode})')


def _recorder(module: nn.Module, log: list, copies: bool = False) -> None:
    """Hooks on ``module`` that log ``('pre', input)`` and ``('post', output)``; copies of
    them with ``copies`` (a block may then add its shortcut to the output in place)."""

    def keep(t: Tensor) -> Tensor:
        return t.detach().clone() if copies else t

    module.register_forward_pre_hook(lambda m, args: log.append(('pre', keep(args[0]))))
    module.register_forward_hook(lambda m, args, out: log.append(('post', keep(out))))


def check_hooks(subject: Subject) -> None:
    """Forward pre-hooks and hooks fire once per call with the module's input and output,
    alone and in a block's slot, and change nothing but what a hook returns."""
    for train in (True, False):
        mode = 'train' if train else 'eval'
        model, log = subject.build(), []
        _recorder(model, log)
        with during(f'forward with hooks ({mode})'):
            got = step(model, subject.x, train=train)
        if [kind for kind, _ in log] != ['pre', 'post']:
            raise Failure(f'one call ({mode}) fired {[kind for kind, _ in log]}, not pre, post')
        if not torch.equal(log[1][1].detach(), got.out):
            raise Failure(f'the hook ({mode}) did not get the output the call returned')
        expected = step(subject.build(), subject.x, train=train)
        require_same_step(f'with hooks ({mode})', got, expected)
    _check_hooks_on_submodules(subject)
    _check_hooks_in_block(subject)


def _record_all(model: nn.Module, log: list) -> None:
    """Hooks on ``model`` and each submodule that log ``(kind, name)`` and, for a forward
    hook, a copy of the output (None if it is no tensor)."""
    for name, module in model.named_modules():
        module.register_forward_pre_hook(lambda m, args, n=name: log.append(('pre', n, None)))

        def post(m, args, out, n=name):
            log.append(('post', n, out.detach().clone() if isinstance(out, Tensor) else None))

        module.register_forward_hook(post)


def _check_hooks_on_submodules(subject: Subject) -> None:
    """In a train step, hooks on the module and each submodule fire in the order and with the
    outputs of the reference mode (a fast path runs the submodules as the reference does
    where they have hooks), and change no result."""
    reference = subject.reference()
    if reference is None:  # one implementation: nothing to compare the order with
        return
    model, logs = subject.build(), ([], [])
    _record_all(model, logs[0])
    _record_all(reference, logs[1])
    with during('a train step with hooks on every submodule'):
        got, _ = step(model, subject.x), step(reference, subject.x)
    plain = step(subject.build(), subject.x)
    require_same_step('with hooks on every submodule (train)', got, plain)
    fired, expected = ([entry[:2] for entry in log] for log in logs)
    for i, (call, truth) in enumerate(zip(fired + [None], expected + [None])):
        if call != truth:
            raise Failure(
                f'hooks on the module and its submodules: call {i + 1} fired {call}, '
                f'in impl={REFERENCE_IMPL!r} {truth}'
            )
    for (kind, name, out), (_, _, truth) in zip(logs[0], logs[1]):
        if kind == 'post' and out is not None:
            require_close(f'the hook output of {name or "the module"}', out, truth)


def _check_hooks_in_block(subject: Subject) -> None:
    block, log = subject.block(), []
    _recorder(slot_of(block), log, copies=True)
    with during('a block forward with hooks on its slot (train)'):
        got = step(block, subject.x)
    if [kind for kind, _ in log] != ['pre', 'post']:
        raise Failure(f'in a block, one forward fired {[kind for kind, _ in log]}, not pre, post')
    require_same_step(
        'a block with hooks on its slot (train)', got, step(subject.block(), subject.x)
    )
    log.clear()
    block.eval()
    with torch.no_grad(), during('a block forward with hooks on its slot (eval)'):
        block(subject.x)
        expected = slot_of(block)(log[0][1])
    require_close(
        'in a block (eval), the hook output vs the module on the hook input', log[1][1], expected
    )
    slot_of(block).register_forward_hook(lambda m, args, out: torch.zeros_like(out))
    with torch.no_grad(), during('a block forward with a hook replacing the output (eval)'):
        out = block(subject.x)
    require_close('a block whose slot hook returns zeros vs relu(input)', out, subject.x.relu())


def check_input_kept(subject: Subject) -> None:
    """The input is not modified in place (training and inference, with and without gradient)."""
    broken = []
    for train in (True, False):
        for grad in (True, False):
            mode = f'{"train" if train else "eval"}, {"with" if grad else "without"} gradient'
            model = subject.build().train(train)
            source = subject.x.clone().requires_grad_(grad)
            x = source.clone() if grad else source  # a graph's intermediate tensor
            with torch.set_grad_enabled(grad), during(f'forward ({mode})'):
                out = model(x)
                if grad:
                    (out * loss_weights(out)).sum().backward()
            if not torch.equal(x.detach(), subject.x):
                broken.append(mode)
    if broken:
        raise Failure(f'the input was modified in place ({"; ".join(broken)})')


def _train_then_eval(model: nn.Module, x: Tensor) -> dict:
    """A train step, then an eval forward."""
    return {'train': step(model, x), 'eval': step(model, x, train=False, backward=False)}


def check_deepcopy(subject: Subject) -> None:
    """A deep copy computes what the module computes (training and inference)."""
    model = subject.build()
    with during('copy.deepcopy'):
        twin = copy.deepcopy(model)
    got, expected = _train_then_eval(twin, subject.x), _train_then_eval(model, subject.x)
    for mode in got:
        require_same_step(f'a deep copy ({mode})', got[mode], expected[mode])


def check_state_dict(subject: Subject) -> None:
    """Its state dict, saved and loaded (``weights_only=True``) into a module with other
    weights, gives the same outputs."""
    model, other = subject.build(), subject.build_other()
    with during('the state dict round trip (torch.save, torch.load weights_only=True)'):
        buffer = io.BytesIO()
        torch.save(model.state_dict(), buffer)
        buffer.seek(0)
        other.load_state_dict(torch.load(buffer, weights_only=True))
    got, expected = _train_then_eval(other, subject.x), _train_then_eval(model, subject.x)
    for mode in got:
        require_same_step(f'after loading the state dict ({mode})', got[mode], expected[mode])
