"""Checked weight loading: a checkpoint that does not fit the model is an error.

mmengine loads ``load_from``, ``tools/test.py``'s checkpoint and
``init_cfg=dict(type='Pretrained')`` with ``strict=False`` and reports what did
not fit as warnings among hundreds of log lines, so a checkpoint of another
model evaluates to chance accuracy with exit code 0. Here every load is
compared with the model first (:func:`match_weights`): names and shapes, the
``module.`` prefix of wrapped models stripped, BN's ``num_batches_tracked``
ignored. Then, by ``mode``:

* ``'strict'`` (``tools/test.py``): any missing, unexpected or shape-mismatched
  tensor is a :class:`WeightsMismatchError` (counts and the first names);
* ``'checked'`` (``load_from``, ``Pretrained``, ``--resume``): one summary line,
  and a checkpoint that fills less than :data:`MIN_LOADED_FRACTION` of the
  model's parameters is refused;
* ``'partial'`` (``--partial-load``): the summary line only.

Only tensors whose name and shape match are copied, so a shape mismatch never
raises from inside torch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Mapping

import torch
from mmengine.logging import print_log
from mmengine.model.weight_init import PretrainedInit, update_init_info
from mmengine.runner.checkpoint import _load_checkpoint

from se_plugin.registry import WEIGHT_INITIALIZERS

from .errors import UserError

__all__ = [
    'LOAD_MODES',
    'MIN_LOADED_FRACTION',
    'CheckedPretrainedInit',
    'WeightMatch',
    'WeightsMismatchError',
    'load_weights',
    'match_weights',
]

LOAD_MODES = ('strict', 'checked', 'partial')
# below this share of the model's parameter elements a checkpoint "matches almost nothing"
MIN_LOADED_FRACTION = 0.5
_SHOWN = 3


class WeightsMismatchError(UserError, ValueError):
    """A checkpoint whose tensors do not fit the model."""


@dataclass
class WeightMatch:
    """How a state dict fits a model: tensor names per outcome.

    Args:
        loaded (list[str]): Names with the model's shape.
        missing (list[str]): Model tensors the checkpoint lacks.
        unexpected (list[str]): Checkpoint tensors the model lacks.
        mismatched (list[str]): Names in both with different shapes.
        loaded_fraction (float): Share of the model's parameter elements loaded.
    """

    loaded: list = field(default_factory=list)
    missing: list = field(default_factory=list)
    unexpected: list = field(default_factory=list)
    mismatched: list = field(default_factory=list)
    loaded_fraction: float = 0.0

    @property
    def exact(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)

    def summary(self) -> str:
        """``loaded 120/122 tensors (98.1% of the parameters); missing 2 (a, b); ...``"""
        total = len(self.loaded) + len(self.missing) + len(self.mismatched)
        parts = [
            f'loaded {len(self.loaded)}/{total} tensors '
            f'({100 * self.loaded_fraction:.1f}% of the parameters)'
        ]
        for name in ('missing', 'unexpected', 'mismatched'):
            keys = getattr(self, name)
            shown = ', '.join(keys[:_SHOWN]) + (', ...' if len(keys) > _SHOWN else '')
            parts.append(f'{name} {len(keys)}' + (f' ({shown})' if keys else ''))
        return '; '.join(parts)


def _model_tensors(module: torch.nn.Module) -> dict:
    return {k: v for k, v in module.state_dict().items() if not k.endswith('num_batches_tracked')}


def match_weights(module: torch.nn.Module, state_dict: Mapping) -> WeightMatch:
    """Compare ``state_dict`` (``module.`` prefixes stripped) with ``module``'s tensors.

    Args:
        module (torch.nn.Module): The model (unwrapped).
        state_dict (Mapping): Name -> tensor, as in a checkpoint's ``state_dict``.

    Returns:
        WeightMatch: The names per outcome and the loaded share of the parameters.
    """
    own = _model_tensors(module)
    theirs = {
        re.sub(r'^module\.', '', k): v
        for k, v in state_dict.items()
        if not k.endswith('num_batches_tracked')
    }
    match = WeightMatch()
    for name, tensor in own.items():
        other = theirs.get(name)
        if other is None:
            match.missing.append(name)
        elif not isinstance(other, torch.Tensor) or other.shape != tensor.shape:
            match.mismatched.append(name)
        else:
            match.loaded.append(name)
    match.unexpected = [k for k in theirs if k not in own]
    params = {n for n, _ in module.named_parameters()} or set(own)
    total = sum(own[n].numel() for n in params if n in own)
    done = sum(own[n].numel() for n in match.loaded if n in params)
    match.loaded_fraction = done / total if total else 1.0
    return match


def _state_dict_of(checkpoint: Mapping) -> Mapping:
    inner = checkpoint.get('state_dict', checkpoint) if isinstance(checkpoint, Mapping) else None
    if not isinstance(inner, Mapping):
        raise WeightsMismatchError('the checkpoint holds no state_dict of tensors')
    return inner


def load_weights(
    module: torch.nn.Module, state_dict: Mapping, source: str, mode: str = 'checked'
) -> WeightMatch:
    """Copy the fitting tensors of ``state_dict`` into ``module``, by ``mode``.

    Args:
        module (torch.nn.Module): The model (unwrapped).
        state_dict (Mapping): Name -> tensor.
        source (str): What is loaded, for the messages (e.g. ``load_from x.pth``).
        mode (str): ``'strict'``, ``'checked'`` or ``'partial'`` (module docstring).
            Default: ``'checked'``.

    Returns:
        WeightMatch: What was loaded.

    Raises:
        WeightsMismatchError: In ``'strict'`` mode for any difference, in
            ``'checked'`` mode when less than ``MIN_LOADED_FRACTION`` loads.
    """
    if mode not in LOAD_MODES:
        raise ValueError(f'mode must be one of {LOAD_MODES}, got {mode!r}')
    match = match_weights(module, state_dict)
    hint = 'pass --partial-load to load only the tensors that fit'
    if mode == 'strict' and not match.exact:
        raise WeightsMismatchError(f'{source} does not fit the model: {match.summary()}; {hint}')
    if mode == 'checked' and match.loaded_fraction < MIN_LOADED_FRACTION:
        raise WeightsMismatchError(
            f'{source} matches almost nothing of the model (less than '
            f'{100 * MIN_LOADED_FRACTION:.0f}% of its parameters): {match.summary()}; {hint}'
        )
    stripped = {re.sub(r'^module\.', '', k): v for k, v in state_dict.items()}
    fits = set(match.loaded)
    # BN's step counters are not compared, but are loaded where the checkpoint has them
    fits |= {k for k in stripped if k.endswith('num_batches_tracked') and k in module.state_dict()}
    module.load_state_dict({k: stripped[k] for k in fits}, strict=False)
    print_log(f'{source}: {match.summary()}', logger='current')
    return match


def load_checkpoint_checked(
    module: torch.nn.Module, filename: str, mode: str = 'checked', source: str = ''
) -> dict:
    """Read ``filename`` (mmengine's loaders, the safe allow-list) and :func:`load_weights`.

    Args:
        module (torch.nn.Module): The model (unwrapped).
        filename (str): A path or URL mmengine can load.
        mode (str): As for :func:`load_weights`. Default: ``'checked'``.
        source (str): Message prefix. Default: ``'checkpoint <filename>'``.

    Returns:
        dict: The whole checkpoint.
    """
    checkpoint = _load_checkpoint(filename, map_location='cpu', logger='current')
    state_dict = _state_dict_of(checkpoint)
    load_weights(module, state_dict, source or f'checkpoint {filename}', mode)
    return checkpoint


@WEIGHT_INITIALIZERS.register_module(name='Pretrained')
class CheckedPretrainedInit(PretrainedInit):
    """mmengine's ``Pretrained`` initializer (same arguments), loading checked.

    Prints one summary line and refuses a checkpoint that fills less than
    ``MIN_LOADED_FRACTION`` of the module's parameters. Configs with
    ``default_scope = 'se_plugin'`` get it for ``type='Pretrained'``.
    """

    def __call__(self, module: torch.nn.Module) -> None:
        checkpoint = _load_checkpoint(self.checkpoint, self.map_location, logger='current')
        if self.prefix is None:
            state_dict = _state_dict_of(checkpoint)
            source = f'init_cfg Pretrained {self.checkpoint}'
        else:
            whole = _state_dict_of(checkpoint)
            state_dict = {
                k[len(self.prefix) :]: v for k, v in whole.items() if k.startswith(self.prefix)
            }
            if not state_dict:
                raise WeightsMismatchError(
                    f'init_cfg Pretrained {self.checkpoint}: no tensor starts with '
                    f'{self.prefix!r} (the first names: {", ".join(list(whole)[:3])})'
                )
            source = f'init_cfg Pretrained {self.checkpoint} (prefix {self.prefix!r})'
        load_weights(module, state_dict, source, 'checked')
        if hasattr(module, '_params_init_info'):
            update_init_info(module, init_info=self._get_init_info())
