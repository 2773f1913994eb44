"""The Runner the tools use: mmengine's, with checked loads and a quiet console.

:class:`CheckedRunner` differs from ``mmengine.runner.Runner`` in three ways:

* every checkpoint it loads (``load_from``, ``--resume``, ``tools/test.py``)
  goes through :func:`~se_plugin.runtime.weights.load_weights` in its
  ``load_mode`` (``'strict'``, ``'checked'`` or ``'partial'``);
* :class:`~se_plugin.runtime.hooks.RunPhaseHook` marks when the first loop
  starts (user errors before it are one line, exceptions after it keep their
  traceback), and :class:`~se_plugin.runtime.loop_checks.LoopCheckHook`
  checks what the loops will use (evaluator, lr) before their first batch;
* with ``verbose=False`` the console leaves out the config dump, the
  environment report and the hook table (they still go to the log file);
* a parameter scheduler converted to iterations (``convert_to_iter_based``)
  spans at least two iterations (:func:`at_least_two_iterations`): a schedule
  scaled to a short run (:mod:`se_plugin.cli.schedule`) may put a warm-up of
  0.1 epoch on an epoch of 5 iterations, which mmengine's conversion truncates
  to ``end == begin`` (refused) or to one iteration (a linear warm-up then
  never leaves its start factor: mmengine steps it ``end - begin - 1`` times).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from typing import Any, Callable, Union

from mmengine.model import BaseTTAModel, is_model_wrapper
from mmengine.runner import Runner
from mmengine.runner.checkpoint import _load_checkpoint

from .hooks import RunPhaseHook
from .loop_checks import LoopCheckHook
from .weights import LOAD_MODES, _state_dict_of, load_weights

__all__ = ['CheckedRunner', 'ConsoleFilter', 'at_least_two_iterations']

# what the console leaves out unless --verbose (the log file keeps everything)
VERBOSE_ONLY = (
    'Config:',
    'Hooks will be executed in the following order',
    '\n------------------------------------------------------------\nSystem environment',
    'Distributed training is not used',
    'Checkpoints will be saved to',
    '"FileClient" will be deprecated',
    'The "file_client_args" is deprecated',
    'The prefix is not set in metric class',
    'Exp name:',
    '"HardDiskBackend" is the alias',
    'Loads checkpoint by',
    'paramwise_options --',
)


class ConsoleFilter(logging.Filter):
    """Drops the log records that start with one of ``VERBOSE_ONLY``.

    Args:
        prefixes (tuple[str]): Message starts to drop. Default: ``VERBOSE_ONLY``.
    """

    def __init__(self, prefixes: tuple = VERBOSE_ONLY):
        super().__init__()
        self.prefixes = tuple(p.strip() for p in prefixes)

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.getMessage()).lstrip().startswith(self.prefixes)


def at_least_two_iterations(scheduler: Any, epoch_length: int) -> Any:
    """``scheduler`` (a config) with its end at least two iterations after its
    begin once converted to iterations (mmengine truncates ``epochs * length``).

    Args:
        scheduler (Any): A parameter scheduler config (others are returned as
            they are).
        epoch_length (int): Iterations per epoch.

    Example:
        >>> at_least_two_iterations(dict(type='LinearLR', begin=0, end=0.1,
        ...                              convert_to_iter_based=True), 5)['end']
        0.5
    """
    if not isinstance(scheduler, Mapping) or not scheduler.get('convert_to_iter_based'):
        return scheduler
    end = scheduler.get('end')
    begin = int(scheduler.get('begin', 0) * epoch_length)
    if end is None or end >= 1e9 or int(end * epoch_length) >= begin + 2:
        return scheduler
    return dict(scheduler, end=(begin + 2.5) / epoch_length)  # truncates to begin + 2


class CheckedRunner(Runner):
    """mmengine's Runner with checked checkpoint loads (see the module docstring).

    Set the class attributes (or the instance's, before ``train``/``test``):
    ``load_mode`` (``'strict'``, ``'checked'`` or ``'partial'``; default
    ``'checked'``) and ``verbose`` (default True, the tools pass False).
    """

    load_mode = 'checked'
    verbose = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.register_hook(RunPhaseHook())
        self.register_hook(LoopCheckHook())

    def build_logger(self, *args, **kwargs):
        logger = super().build_logger(*args, **kwargs)
        if not self.verbose:
            for handler in logger.handlers:
                if isinstance(handler, logging.StreamHandler) and handler.stream in (
                    sys.stdout,
                    sys.stderr,
                ):
                    handler.addFilter(ConsoleFilter())
        return logger

    def _build_param_scheduler(self, scheduler, optim_wrapper):
        schedulers = scheduler if isinstance(scheduler, (list, tuple)) else [scheduler]
        length = len(self.train_dataloader)
        schedulers = [at_least_two_iterations(s, length) for s in schedulers]
        return super()._build_param_scheduler(schedulers, optim_wrapper)

    def load_checkpoint(
        self,
        filename: str,
        map_location: Union[str, Callable] = 'cpu',
        strict: bool = False,
        revise_keys: list = [(r'^module.', '')],  # noqa: B006  (mmengine's signature)
    ):
        """mmengine's ``load_checkpoint`` through :func:`load_weights` (``load_mode``)."""
        if self.load_mode not in LOAD_MODES:
            raise ValueError(f'load_mode must be one of {LOAD_MODES}, got {self.load_mode!r}')
        # 'current': its "Loads checkpoint by ..." line goes to the log, not the console
        checkpoint = _load_checkpoint(filename, map_location=map_location, logger='current')
        self.call_hook('after_load_checkpoint', checkpoint=checkpoint)
        model = self.model.module if is_model_wrapper(self.model) else self.model
        if isinstance(model, BaseTTAModel):  # --tta: the weights are the wrapped model's
            model = model.module
        mode = 'strict' if strict else self.load_mode
        load_weights(model, _state_dict_of(checkpoint), f'checkpoint {filename}', mode)
        self._has_loaded = True
        return checkpoint
