"""Checks of what the loops will use, run as the first loop starts, before its first batch.

Some settings can only be judged on the built objects, and fail deep inside
a loop otherwise: an ``Accuracy`` metric whose ``topk`` asks for more
classes than the model scores raises after the whole validation or test
loop (mmpretrain checks it on the first batch of results), and an lr that
the optimizer's arithmetic overflows in the parameters' dtype (``1e39`` in
fp32, or an lr that ``auto_scale_lr`` or Adam's bias correction scales past
the fp32 range) raises in the middle of the first step. :class:`LoopCheckHook`
(registered by :class:`~se_plugin.runtime.runner.CheckedRunner`) runs these
checks in ``before_train`` / ``before_val`` / ``before_test``: the optimizer is
built, the lr scaled and resumed, and no batch has run. Each failure is a
:class:`~se_plugin.runtime.errors.ConfigError`, one line from the tools.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional

import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from se_plugin.registry import HOOKS

from .errors import ConfigError

__all__ = ['LoopCheckHook', 'check_evaluator', 'check_first_step']


def _scored_classes(model: torch.nn.Module) -> Optional[int]:
    """How many classes an mmpretrain classifier scores (its head's ``num_classes``)."""
    from mmpretrain.models import ImageClassifier

    model = model.module if is_model_wrapper(model) else model
    if not isinstance(model, ImageClassifier):
        return None
    num_classes = getattr(model.head, 'num_classes', None)  # mmpretrain's linear heads
    return num_classes if isinstance(num_classes, int) else None


def check_evaluator(evaluator: Any, model: torch.nn.Module, where: str) -> None:
    """Refuse an ``Accuracy`` metric whose ``topk`` exceeds the classes ``model`` scores.

    Args:
        evaluator: The loop's mmengine ``Evaluator``.
        model (nn.Module): The runner's model (wrapped or not).
        where (str): The config key, for the message (e.g. ``'val_evaluator'``).
    """
    from mmpretrain.evaluation import Accuracy

    num_classes = _scored_classes(model)
    if num_classes is None:
        return
    for metric in getattr(evaluator, 'metrics', ()):
        if isinstance(metric, Accuracy) and max(metric.topk) > num_classes:
            raise ConfigError(
                f'{where}: Accuracy topk={metric.topk} asks for top-{max(metric.topk)} '
                f'accuracy, but the model scores {num_classes} classes '
                f'(model.head.num_classes); use topk values <= {num_classes}'
            )


def _probe_step(optimizer: torch.optim.Optimizer, group: dict, lr: float, param: torch.Tensor):
    """One step of a copy of ``optimizer`` on a one-element stand-in for ``param``."""
    proxy = torch.zeros(1, dtype=param.dtype, device=param.device, requires_grad=True)
    proxy.grad = torch.ones_like(proxy)
    settings = {k: v for k, v in group.items() if k not in ('params', 'initial_lr')}
    probe = type(optimizer).__new__(type(optimizer))
    torch.optim.Optimizer.__init__(
        probe, [dict(settings, params=[proxy], lr=lr)], optimizer.defaults
    )
    probe.step()
    return proxy


def check_first_step(optimizer: torch.optim.Optimizer, scaled: bool = False) -> None:
    """Refuse an lr whose first step overflows the parameters' dtype.

    Each param group's largest lr (its ``lr`` and, with a scheduler, the
    ``initial_lr`` it returns to) takes one step of a copy of the optimizer
    on a one-element stand-in of each parameter dtype (gradient 1): an
    overflow there (``value cannot be converted to type float without
    overflow``), or a non-finite result, is the lr's fault. The optimizer
    itself is not touched; a copy that cannot be made is not checked.

    Args:
        optimizer (Optimizer): The built optimizer.
        scaled (bool): Whether ``auto_scale_lr`` scaled the lr (for the
            message). Default: False.
    """
    for index, group in enumerate(optimizer.param_groups):
        lr = max(float(group['lr']), float(group.get('initial_lr', 0.0)))
        for param in {p.dtype: p for p in group['params']}.values():
            try:
                proxy = _probe_step(optimizer, group, lr, param)
            except (RuntimeError, OverflowError) as err:
                if 'overflow' not in str(err):
                    continue  # not the lr's doing: the real step will tell
                reason = f'overflows in its first step ({err})'
            except Exception:  # an optimizer that cannot be copied this way
                continue
            else:
                if torch.isfinite(proxy).all():
                    continue
                reason = 'makes the parameters non-finite in its first step'
            name = type(optimizer).__name__
            how = ' (scaled by auto_scale_lr)' if scaled else ''
            raise ConfigError(
                f'optim_wrapper.optimizer.lr: param group {index} has lr {lr:g}{how}, which '
                f'{name} on {str(param.dtype).replace("torch.", "")} parameters {reason}; '
                'use a smaller lr'
            )


def _optimizers(optim_wrapper: Any) -> Sequence[torch.optim.Optimizer]:
    from mmengine.optim import OptimWrapperDict

    if isinstance(optim_wrapper, OptimWrapperDict):
        wrappers = list(optim_wrapper.optim_wrappers.values())
    else:
        wrappers = [optim_wrapper]
    return [w.optimizer for w in wrappers if isinstance(w.optimizer, torch.optim.Optimizer)]


@HOOKS.register_module()
class LoopCheckHook(Hook):
    """Checks what a loop will use before its first batch (see the module docstring)."""

    priority = 'HIGHEST'

    def before_train(self, runner) -> None:
        scale = runner.auto_scale_lr if isinstance(runner.auto_scale_lr, dict) else {}
        for optimizer in _optimizers(runner.optim_wrapper):
            check_first_step(optimizer, scaled=bool(scale.get('enable')))
        if runner.val_loop is not None:
            check_evaluator(runner.val_loop.evaluator, runner.model, 'val_evaluator')

    def before_val(self, runner) -> None:
        check_evaluator(runner.val_loop.evaluator, runner.model, 'val_evaluator')

    def before_test(self, runner) -> None:
        check_evaluator(runner.test_loop.evaluator, runner.model, 'test_evaluator')
