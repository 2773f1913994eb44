"""The attention-slot contract as one call: :func:`check_attention_module`.

A module that fits se_plugin's attention slot (``attn_cfg``, mmcv ``plugins``,
``AttentionInjected``) is called in places that expect a plain, well-behaved
layer: hooks, gradient checkpointing, gradient penalties, ``torch.func``,
empty batches, mixed precision, tracing and export, checkpoints. The kit runs
each of these on small inputs (3 samples, ``in_channels`` channels, 5x6 maps,
float64 where it compares) and reports every property the module breaks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Union

import torch
from torch import nn

from se_plugin.checks import check_int, check_registered
from se_plugin.registry import MODELS

from .autodiff import check_double_backward, check_forward_ad, check_gradient
from .behaviour import (
    check_deepcopy,
    check_empty_batch,
    check_hooks,
    check_independence,
    check_input_kept,
    check_shape,
    check_state_dict,
)
from .equivalence import check_autocast, check_impls, check_in_block, check_with_cp
from .graphs import check_export, check_trace
from .subject import Failure, Subject, describe

# name -> check; the names are what a failure message and ``skip`` use
PROPERTIES = {
    'shape': check_shape,
    'independence': check_independence,
    'empty_batch': check_empty_batch,
    'hooks': check_hooks,
    'input_kept': check_input_kept,
    'gradient': check_gradient,
    'in_block': check_in_block,
    'with_cp': check_with_cp,
    'double_backward': check_double_backward,
    'forward_ad': check_forward_ad,
    'autocast': check_autocast,
    'trace': check_trace,
    'export': check_export,
    'deepcopy': check_deepcopy,
    'state_dict': check_state_dict,
    'impls': check_impls,
}


def _module_cfg(module, kwargs: dict) -> dict:
    """The module's config (``type`` and arguments, without ``in_channels``)."""
    if isinstance(module, str) or (isinstance(module, type) and issubclass(module, nn.Module)):
        cfg = dict(type=module)
    elif isinstance(module, Mapping):
        cfg = dict(module)
    else:
        raise TypeError(
            'module must be an nn.Module class, a config dict or a registered name, '
            f'got {module!r} ({type(module).__name__})'
        )
    check_registered('module', cfg, MODELS, 'attention')
    for key in ('in_channels', *kwargs):
        if key in cfg:
            raise ValueError(
                f'{key!r} is given in the module config and as an argument: give it once'
            )
    return dict(cfg, **kwargs)


def _skipped(skip: Sequence) -> tuple:
    if isinstance(skip, str) or not isinstance(skip, (list, tuple)):
        raise TypeError(f'skip must be a tuple of property names, got {skip!r}')
    for name in skip:
        if name not in PROPERTIES:
            allowed = ', '.join(PROPERTIES)
            raise ValueError(f'skip: {name!r} is no property of the contract; one of {allowed}')
    return tuple(skip)


def _label(cfg: dict, in_channels: int, name: str) -> str:
    args = [f'in_channels={in_channels}', *(f'{k}={v!r}' for k, v in cfg.items() if k != 'type')]
    return f'{name}({", ".join(args)})'


def _run(check, subject: Subject) -> tuple:
    """``(broken, outcome)``: whether ``check`` failed, and its reason or note ('ok')."""
    try:
        note = check(subject)
    except Failure as failure:
        return True, str(failure).splitlines()[0]
    except Exception as error:  # a module error outside the steps a check expects
        return True, f'raised {describe(error)}'
    return False, note or 'ok'


def check_attention_module(
    module: Union[type, dict, str],
    in_channels: int = 16,
    skip: Sequence[str] = (),
    **kwargs,
) -> dict:
    """Check that a module keeps the contract of the attention slot.

    The module is built with ``in_channels`` and ``kwargs`` (and its weights
    and batch-norm statistics perturbed, so that zero-initialised gates do not
    hide a wrong path). Every property below is checked; each broken one is
    named in the one ``AssertionError`` raised, with a one-line reason:

    - ``shape``: ``(N, C, H, W)`` in, the same shape and dtype out (odd,
      even and ``1x1`` maps), finite;
    - ``independence``: in inference, a sample's output does not depend on
      the other samples of the batch;
    - ``empty_batch``: ``N = 0`` forward and backward, training and inference;
    - ``hooks``: forward pre-hooks and hooks fire once per call with the
      module's input and output, alone and in a block's slot (where a hook's
      returned value is what the block uses), and change no result; hooks on
      its submodules fire as in ``impl='reference'``;
    - ``input_kept``: the input is not modified in place;
    - ``gradient``: input and parameter gradients equal finite differences;
    - ``in_block``: an :class:`~se_plugin.models.AttentionModule` in a block's
      slot (an ``SEBottleneck``, standard position) computes, in each
      implementation mode, the plain composition ``module(norm(z)) +
      shortcut`` whatever its ``forward_after_norm`` does (outputs,
      gradients, buffers of two train steps and an eval step); with
      ``impl='recompute'`` a train step recomputes the module once in the
      backward;
    - ``with_cp``: in an ``SEBottleneck`` with ``with_cp=True`` the branch and
      the module are recomputed once, leaving the outputs, gradients and
      running statistics of ``with_cp=False``;
    - ``double_backward``: gradients of a gradient penalty equal finite
      differences and the reference mode's, or a clear refusal (a
      ``RuntimeError`` with a message);
    - ``forward_ad``: forward-mode AD (``torch.autograd.forward_ad``,
      ``torch.func.jvp``) equals finite differences and the reference mode's,
      or a clear refusal;
    - ``autocast``: bf16 autocast on the CPU stays close to fp32 (cosine
      similarity of the outputs and the gradients);
    - ``trace``, ``export``: ``torch.jit.trace`` and ``torch.export`` graphs
      hold no Python op or autograd Function and equal eager mode;
    - ``deepcopy``, ``state_dict``: a deep copy, and a module loaded with the
      state dict (``torch.load(weights_only=True)``), compute the same;
    - ``impls``: each implementation mode of an
      :class:`~se_plugin.models.AttentionModule` (its ``impls``) equals
      ``impl='reference'``, alone and in a block at the standard position
      (outputs, gradients, buffers of two train steps and an eval step).

    The caller's random number generator state is left as it was.

    Args:
        module (type | dict | str): The module: an ``nn.Module`` class, a
            config dict (``type`` a class or a registered name) or a name
            registered in se_plugin's or mmpretrain's ``MODELS``.
        in_channels (int): Channels of the input (and output). Default: 16.
        skip (Sequence[str]): Properties not checked, each named (what the
            module documents it cannot meet, e.g. ``('export',)``). Default: ().
        **kwargs: The module's other arguments.

    Returns:
        dict: Each property's outcome: ``'ok'``, a note (a clear refusal of
        double backward or forward-mode AD, the modes compared, the autocast
        cosines) or ``'skipped'``.

    Raises:
        AssertionError: Naming every broken property.

    Example:
        >>> import torch
        >>> from se_plugin.testing import check_attention_module
        >>> report = check_attention_module('se_plugin.SimAM', in_channels=4)
        >>> report['shape'], report['export']
        ('ok', 'ok')
        >>> class Doubling(torch.nn.Module):
        ...     def __init__(self, in_channels):
        ...         super().__init__()
        ...     def forward(self, x):
        ...         return x.mul_(2)  # writes into its input
        >>> check_attention_module(Doubling, in_channels=4)
        Traceback (most recent call last):
        ...
        AssertionError: Doubling(in_channels=4) breaks 1 of the 16 properties ... checked:
        - input_kept: the input was modified in place (train, with gradient; ...)
    """
    in_channels = check_int('in_channels', in_channels, minimum=1)
    skipped = _skipped(skip)
    cfg = _module_cfg(module, kwargs)
    outcomes, broken = {}, []
    with torch.random.fork_rng(devices=[]):
        subject = Subject(cfg, in_channels)
        for name, check in PROPERTIES.items():
            if name in skipped:
                outcomes[name] = 'skipped'
                continue
            failed, outcomes[name] = _run(check, subject)
            if failed:
                broken.append(f'- {name}: {outcomes[name]}')
    if broken:
        checked = len(PROPERTIES) - len(skipped)
        raise AssertionError(
            f'{_label(cfg, in_channels, subject.name)} breaks {len(broken)} of the {checked} '
            'properties of the attention-slot contract checked:\n' + '\n'.join(broken)
        )
    return outcomes
