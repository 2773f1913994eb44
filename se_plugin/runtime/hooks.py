"""Runner hooks of se_plugin (registered in ``se_plugin``'s ``HOOKS``).

``torch.compile`` needs no hook: mmengine's Runner compiles ``train_step``
when the config sets ``compile = True`` (or a dict of ``torch.compile``
options), see ``configs/speed/se_resnet50_compile_imagenet.py``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from se_plugin.registry import HOOKS

from .errors import UserError, mark_running


def to_channels_last(data: Any) -> Any:
    """``data`` with its 4-D tensors in channels-last memory format.

    Walks the dicts, lists and tuples a data preprocessor returns; other values
    (data samples, 3-D tensors) are returned as they are.
    """
    if isinstance(data, torch.Tensor):
        return data.contiguous(memory_format=torch.channels_last) if data.dim() == 4 else data
    if isinstance(data, dict):
        return {key: to_channels_last(value) for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        return type(data)(to_channels_last(value) for value in data)
    return data


def _to_channels_last_hook(module, args, output):
    return to_channels_last(output)


@HOOKS.register_module()
class ChannelsLastHook(Hook):
    """Run the model in channels-last (NHWC) memory format.

    Before the run, converts the model's 4-D parameters and buffers to
    channels-last (in place of their data, so optimizers keep their
    references; checkpoints load into them unchanged) and makes the data
    preprocessor hand the model channels-last batches. Convolutions then keep
    activations channels-last through the network. Enable with
    ``custom_hooks = [dict(type='se_plugin.ChannelsLastHook')]``.

    Whether it is faster depends on the machine and the model: measure with
    ``tools/benchmark.py --channels-last`` first.
    """

    priority = 'VERY_HIGH'  # before hooks that may run the model (e.g. EMA)

    def __init__(self) -> None:
        self._handle = None

    def before_run(self, runner) -> None:
        self.convert(runner.model)

    def convert(self, model: torch.nn.Module) -> torch.nn.Module:
        """Convert ``model`` (wrapped or not) in place and return it."""
        model.to(memory_format=torch.channels_last)
        inner = model.module if is_model_wrapper(model) else model
        preprocessor = getattr(inner, 'data_preprocessor', None)
        if isinstance(preprocessor, torch.nn.Module) and self._handle is None:
            self._handle = preprocessor.register_forward_hook(_to_channels_last_hook)
        return model

    def after_run(self, runner) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None


__all__ = [
    'ChannelsLastHook',
    'NonFiniteLossError',
    'NonFiniteLossHook',
    'RunPhaseHook',
    'to_channels_last',
]


class NonFiniteLossError(UserError, FloatingPointError):
    """Training produced a NaN or infinite loss."""


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """Stop training at the first NaN or infinite loss, with the likely causes.

    mmengine trains on through NaN losses (and saves NaN checkpoints); this hook
    raises :class:`NonFiniteLossError` (one line, exit 2 from the tools)
    naming the epoch, iteration and learning rate. On by default in
    ``configs/_base_/default_runtime.py`` (``default_hooks.nonfinite_loss``).

    Args:
        interval (int): Check every ``interval`` iterations (each check reads
            one scalar). Default: 1.
    """

    priority = 'ABOVE_NORMAL'

    def __init__(self, interval: int = 1):
        if isinstance(interval, bool) or not isinstance(interval, int) or interval < 1:
            raise ValueError(f'interval must be an int >= 1, got {interval!r}')
        self.interval = interval

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if not self.every_n_train_iters(runner, self.interval) or not isinstance(outputs, dict):
            return
        losses = {k: v for k, v in outputs.items() if 'loss' in k and torch.is_tensor(v)}
        bad = {k: float(v.detach().float().mean()) for k, v in losses.items()}
        bad = {k: v for k, v in bad.items() if not math.isfinite(v)}
        if bad:
            lrs = runner.optim_wrapper.get_lr() if hasattr(runner, 'optim_wrapper') else {}
            lr = next(iter(lrs.values()), ['?'])[0] if isinstance(lrs, dict) and lrs else '?'
            raise NonFiniteLossError(
                f'training stopped: {", ".join(f"{k} = {v}" for k, v in bad.items())} at '
                f'epoch {runner.epoch + 1}, iteration {runner.iter + 1} (lr {lr}); check the '
                'learning rate, data_preprocessor.mean/std and the data, or try without --amp'
            )


@HOOKS.register_module()
class RunPhaseHook(Hook):
    """Marks the start of a train / test / val loop (:func:`mark_running`).

    Registered first by :class:`~se_plugin.runtime.runner.CheckedRunner`, so
    what the other hooks raise from then on keeps its traceback.
    """

    priority = 'HIGHEST'

    def before_train(self, runner) -> None:
        mark_running()

    def before_test(self, runner) -> None:
        mark_running()

    def before_val(self, runner) -> None:
        mark_running()
