"""Argument checks shared by the layers, blocks and backbones: one per argument kind.

Every check raises :class:`ValueError` (a bad value) or :class:`TypeError` (a
value of the wrong type) with one message shape, whichever module calls it::

    <name> must be <what is allowed>, got <the value given>

so that a config typo is answered by one clear line instead of an
``AssertionError`` deep in a build. Each check returns the value normalised:
numpy numbers (``np.int64``, ``np.float32``) are numbers like Python's and
come back as ``int``/``float``, ``np.bool_`` comes back as ``bool``; a
``bool`` is never a number (``True`` for a width or a ratio is refused), and
only a ``bool`` (or ``np.bool_``) is a bool (``1`` for ``bias`` is refused).

The kinds: counts and sizes (:func:`check_int`), finite reals
(:func:`check_real`), ratios and rates (:func:`check_positive_number`,
:func:`check_fraction`), switches (:func:`check_bool`), closed sets
(:func:`check_choice`), per-stage tuples (:func:`check_int_tuple`,
:func:`check_bool_tuple`) and layer configs (:func:`check_conv_cfg`,
:func:`check_norm_cfg` with GroupNorm's ``num_groups``,
:func:`check_act_cfg`, :func:`check_registered` for attention modules, and
:func:`check_slot_channels` for an ``in_channels`` given in a slot's config).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Sequence
from typing import Any, Optional

import numpy as np
import torch

# Activations that may be used inside attention layers (names in mmengine's
# MODELS registry, provided by torch.nn and mmcv.cnn).
HIDDEN_ACTIVATIONS = (
    'ReLU',
    'ReLU6',
    'LeakyReLU',
    'PReLU',
    'ELU',
    'GELU',
    'SiLU',
    'Swish',
    'HSwish',
)
# Gates compared in SENet Table 12, plus the hard sigmoid of MobileNetV3.
GATE_ACTIVATIONS = ('Sigmoid', 'HSigmoid', 'Tanh', 'ReLU')

# What the message of an unknown layer type offers instead, per kind of layer.
_EXAMPLES = {
    'conv': "'Conv2d'",
    'norm': "'BN', 'GN', 'IN', 'SyncBN'",
    'activation': "'ReLU', 'SiLU'",
    'attention': "'se_plugin.SELayer'",
}


class ChoiceError(ValueError, KeyError):
    """A value outside a closed set (e.g. a depth): a ValueError, and a KeyError as
    mmpretrain raises for unknown depths, so callers catching either keep working."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ''


class UnknownTypeError(ValueError, KeyError):
    """A config ``type`` that names no registered class.

    A ValueError (a bad argument value) and, like mmengine's own registry
    misses, a KeyError, so both ways of catching it work.
    """

    __str__ = Exception.__str__  # KeyError's would quote the message


def must(name: str, allowed: str, value: Any) -> str:
    """The one message shape of every check: ``<name> must be <allowed>, got <value>``."""
    return f'{name} must be {allowed}, got {value!r}'


# --- numbers, switches, closed sets ------------------------------------------


def _int_range(minimum: Optional[int], maximum: Optional[int]) -> str:
    if minimum is not None and maximum is not None:
        return f'an int in [{minimum}, {maximum}]'
    if minimum is not None:
        return f'an int >= {minimum}'
    return 'an int' if maximum is None else f'an int <= {maximum}'


def check_int(
    name: str, value: Any, minimum: Optional[int] = None, maximum: Optional[int] = None
) -> int:
    """Return ``value`` as an int if it is an integer (numpy too; not a bool) in range."""
    allowed = _int_range(minimum, maximum)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(must(name, allowed, value))
    value = int(value)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValueError(must(name, allowed, value))
    return value


def _real(name: str, value: Any, allowed: str) -> float:
    """``value`` as an int or a float if it is a finite real number (numpy too; not a bool)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(must(name, allowed, value))
    if isinstance(value, numbers.Integral):
        return int(value)
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(must(name, allowed, value))
    return value


def check_real(name: str, value: Any, minimum: Optional[float] = None) -> float:
    """Return ``value`` (int or float) if it is a finite real number >= ``minimum``."""
    allowed = 'a finite number' + ('' if minimum is None else f' >= {minimum}')
    value = _real(name, value, allowed)
    if minimum is not None and value < minimum:
        raise ValueError(must(name, allowed, value))
    return value


def check_positive_number(name: str, value: Any) -> float:
    """Return ``value`` (int or float) if it is a finite real number > 0 (a ratio)."""
    value = _real(name, value, 'a finite number > 0')
    if not value > 0:
        raise ValueError(must(name, 'a finite number > 0', value))
    return value


def check_fraction(name: str, value: Any) -> float:
    """Return ``value`` (int or float) if it is a real number in ``[0, 1)`` (a drop rate)."""
    value = _real(name, value, 'a number in [0, 1)')
    if not 0 <= value < 1:
        raise ValueError(must(name, 'a number in [0, 1)', value))
    return value


def check_bool(name: str, value: Any) -> bool:
    """Return ``value`` if it is a bool (``np.bool_`` too); ``1``, ``'yes'``, None are refused."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(must(name, 'a bool', value))
    return bool(value)


def check_choice(name: str, value: Any, allowed: Sequence, error: type = ValueError) -> Any:
    """Return ``value`` if it is one of ``allowed`` (strings, or ints such as depths;
    None among them makes the choice optional).

    A value of another type than the choices is a TypeError, one of the right
    type outside them an ``error`` (a ValueError; :class:`ChoiceError` where
    callers may catch a KeyError, as for depths); numpy ints match int choices.
    """
    allowed = tuple(allowed)
    text = 'one of ' + ', '.join(repr(a) for a in allowed)
    if value is None and None in allowed:  # an optional choice
        return None
    choices = tuple(a for a in allowed if a is not None)
    if all(isinstance(a, str) for a in choices):
        if not isinstance(value, str):
            raise TypeError(must(name, text, value))
        value = str(value)
    else:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise TypeError(must(name, text, value))
        value = int(value)
    if value not in allowed:
        raise error(must(name, text, value))
    return value


def check_odd(name: str, value: Any) -> int:
    """Return ``value`` as an int if it is a positive odd integer (a shape-keeping kernel)."""
    value = check_int(name, value, minimum=1)
    if value % 2 == 0:
        raise ValueError(must(name, 'an odd int >= 1 (the output keeps the input size)', value))
    return value


def check_divisible(name: str, value: int, divisor_name: str, divisor: int) -> int:
    """Return ``value`` if it is a multiple of ``divisor`` (both already ints)."""
    if value % divisor:
        lower = value - value % divisor
        nearest = ', '.join(str(v) for v in (lower, lower + divisor) if v)
        raise ValueError(
            f'{name}={value} must be divisible by {divisor_name}={divisor} '
            f'(nearest multiples: {nearest})'
        )
    return value


# --- per-stage tuples ---------------------------------------------------------


def check_int_tuple(
    name: str, value: Any, length: int, minimum: Optional[int] = None, per: str = 'stage'
) -> tuple:
    """Return ``value`` as a tuple of ``length`` ints (one ``per`` thing), each >= ``minimum``."""
    if not isinstance(value, (list, tuple)):
        raise TypeError(must(name, f'a tuple of {length} ints', value))
    if len(value) != length:
        raise ValueError(must(name, f'a tuple of {length} ints (one per {per})', value))
    return tuple(check_int(f'{name}[{i}]', v, minimum) for i, v in enumerate(value))


def check_bool_tuple(name: str, value: Any, length: int) -> tuple:
    """Return ``value`` as a tuple of ``length`` bools."""
    allowed = f'a tuple of {length} bools (one per stage)'
    if not isinstance(value, (list, tuple)) or not all(
        isinstance(v, (bool, np.bool_)) for v in value
    ):
        raise TypeError(must(name, allowed, value))
    if len(value) != length:
        raise ValueError(must(name, allowed, value))
    return tuple(bool(v) for v in value)


# --- layer configs ---------------------------------------------------------------


def check_cfg(name: str, value: Any, optional: bool = True) -> Optional[dict]:
    """Return a copy of a config dict with a ``type`` key (or None if allowed)."""
    if value is None and optional:
        return None
    if not isinstance(value, dict) or 'type' not in value:
        allowed = "a dict with a 'type' key" + (' or None' if optional else '')
        raise TypeError(must(name, allowed, value))
    return dict(value)


def _lookup(name: str, cfg: dict, registry: Any, kind: str) -> Any:
    """The class (or builder) a config's ``type`` names in ``registry``, from the
    current default scope; an :class:`UnknownTypeError` naming it if none."""
    layer_type = cfg['type']
    if isinstance(layer_type, type):
        return layer_type
    examples = _EXAMPLES.get(kind)
    allowed = f'a registered {kind} type' + (f' (e.g. {examples})' if examples else '')
    if not isinstance(layer_type, str):
        raise TypeError(must(f"{name}['type']", allowed, layer_type))
    if registry is None:
        from mmengine.registry import MODELS as registry
    with registry.switch_scope_and_registry(None) as scoped:
        try:
            found = scoped.get(layer_type)
        except (RuntimeError, KeyError, ImportError, AttributeError):
            found = None
    if found is None:
        raise UnknownTypeError(must(f"{name}['type']", allowed, layer_type))
    return found


def check_registered(
    name: str, cfg: Any, registry: Any = None, kind: str = 'attention'
) -> Optional[dict]:
    """Return a copy of a config whose ``type`` is a class name found in
    ``registry`` (default: mmengine's ``MODELS``, where mmcv's conv/norm
    builders look, from the current default scope), or None for None.

    mmcv's ``build_conv_layer``/``build_norm_layer`` answer an unknown type with
    ``KeyError('Cannot find None in registry ...')``; this names the type.
    ``kind`` is one of ``'conv'``, ``'norm'``, ``'activation'``,
    ``'attention'`` (for the message).
    """
    cfg = check_cfg(name, cfg)
    if cfg is not None:
        _lookup(name, cfg, registry, kind)
    return cfg


def check_conv_cfg(name: str, cfg: Any) -> Optional[dict]:
    """Return a copy of a conv config (mmcv ``build_conv_layer``) of a 2-D convolution, or None.

    Subclasses of torch's layers other than ``nn.Conv2d`` (``Conv1d``,
    ``Conv3d``, transposed convs, or no conv at all) are refused; a
    registered ``nn.Module`` built on none of them (mmcv's DCN, your own
    conv) is taken as a 2-D conv, and the layers check what it builds
    (:func:`check_conv2d`).
    """
    import torch.nn as nn

    cfg = check_cfg(name, cfg)
    if cfg is None:
        return None
    cls = _lookup(name, cfg, None, 'conv')
    bases = cls.__mro__ if isinstance(cls, type) else ()
    torch_layer = any(b.__module__.startswith('torch.nn.') and b is not nn.Module for b in bases)
    if torch_layer and not issubclass(cls, nn.Conv2d):
        raise ValueError(must(f"{name}['type']", "a 2-D convolution (e.g. 'Conv2d')", cfg['type']))
    return cfg


def _not_2d_norms() -> tuple:
    import torch.nn as nn

    return (nn.BatchNorm1d, nn.BatchNorm3d, nn.InstanceNorm1d, nn.InstanceNorm3d)


def check_norm_cfg(name: str, cfg: Any, channels: Iterable[int] = ()) -> Optional[dict]:
    """Return a copy of a norm config (mmcv ``build_norm_layer``) for ``(N, C, H, W)``, or None.

    GroupNorm (``'GN'``) needs ``num_groups``, an int >= 1 that divides each
    of ``channels``, the widths the caller builds the norm for. Norms of
    other ranks (``'BN1d'``, ``'BN3d'``, ``'IN1d'``, ``'IN3d'``) and
    ``'LN'`` (``nn.LayerNorm`` over the last axis) are refused.
    """
    import torch.nn as nn

    cfg = check_cfg(name, cfg)
    if cfg is None:
        return None
    cls = _lookup(name, cfg, None, 'norm')
    if isinstance(cls, type) and (issubclass(cls, _not_2d_norms()) or cls is nn.LayerNorm):
        allowed = "a norm of (N, C, H, W) maps (e.g. 'BN', 'GN', 'IN', 'SyncBN')"
        raise ValueError(must(f"{name}['type']", allowed, cfg['type']))
    if isinstance(cls, type) and issubclass(cls, nn.GroupNorm):
        key = f"{name}['num_groups']"
        if 'num_groups' not in cfg:
            raise ValueError(must(key, 'given for GroupNorm (an int >= 1)', cfg))
        groups = cfg['num_groups'] = check_int(key, cfg['num_groups'], minimum=1)
        widths = sorted(set(channels))
        if any(width % groups for width in widths):
            listed = ', '.join(str(width) for width in widths)
            allowed = f'a divisor of the widths it normalises ({listed})'
            raise ValueError(must(key, allowed, groups))
    return cfg


def check_act_cfg(name: str, cfg: Any, allowed: Optional[Sequence] = None) -> dict:
    """Return a copy of an activation config dict whose ``type`` is one of
    ``allowed``, or (``allowed=None``) any registered activation."""
    cfg = check_cfg(name, cfg, optional=False)
    if allowed is None:
        _lookup(name, cfg, None, 'activation')
    else:
        check_choice(f"{name}['type']", cfg['type'], allowed)
    return cfg


def check_slot_channels(name: str, cfg: dict, channels: Optional[int], where: str) -> dict:
    """The module config ``cfg`` with ``in_channels`` set to ``channels``, the slot's width.

    The one rule for every place that builds a module into a slot (blocks,
    backbones, :func:`~se_plugin.models.inject_attention`): the slot fills in
    ``in_channels``; one given in ``cfg`` must be an int equal to it (a
    disagreeing one is an error, not silently replaced). With ``channels``
    None (a width the caller cannot tell) the given one is used. ``where``
    says what the width is, for the message.
    """
    if 'in_channels' not in cfg:
        return dict(cfg, in_channels=channels)
    key = f"{name}['in_channels']"
    given = check_int(key, cfg['in_channels'], minimum=1)
    if channels is not None and given != channels:
        raise ValueError(must(key, f'{channels} ({where}) or left out', given))
    return dict(cfg, in_channels=given)


# --- what a layer builds from its arguments ---------------------------------------


def check_conv2d(name: str, conv: Any, cfg: Any) -> Any:
    """Return a built conv layer if it convolves 2-D maps (refuses e.g. ``Conv1d``/``Conv3d``)."""
    kernel = getattr(conv, 'kernel_size', None)
    if not isinstance(kernel, tuple) or len(kernel) != 2:
        raise ValueError(
            must(name, f'None or a 2-D convolution (this one builds a {type(conv).__name__})', cfg)
        )
    return conv


def check_feature_map(owner: str, x: Any, channels: int) -> None:
    """Refuse an input of the layer ``owner`` that is not an ``(N, channels, H, W)`` tensor.

    Skipped while ``torch.jit.trace`` records a graph: the check is Python, not
    part of the graph (a trace would freeze it as a constant and warn); the
    eager calls before and after a trace check as usual.
    """
    if torch.jit.is_tracing():
        return
    if x.dim() != 4 or x.shape[1] != channels:
        raise ValueError(
            f'{owner} expects an (N, {channels}, H, W) input, got shape {tuple(x.shape)}'
        )


def check_squeeze_width(in_channels: int, ratio: Any, squeeze_channels: Any, divisor: Any) -> int:
    """The hidden width of an excitation MLP: ``squeeze_channels`` if given, else
    ``make_divisible(in_channels / ratio, divisor)`` (mmpretrain's rounding); in
    ``[1, in_channels]``."""
    from mmpretrain.models.utils import make_divisible

    divisor = check_int('divisor', divisor, minimum=1)
    if squeeze_channels is None:
        ratio = check_positive_number('ratio', ratio)
        width = make_divisible(in_channels / ratio, divisor)
        source = f'ratio={ratio} with divisor={divisor}'
    else:
        width = check_int('squeeze_channels', squeeze_channels)
        source = 'squeeze_channels'
    if not 1 <= width <= in_channels:
        raise ValueError(
            f'the squeeze width must be in [1, in_channels={in_channels}], got {width} from '
            f'{source}; pick a larger ratio, a smaller divisor, or set squeeze_channels'
        )
    return width


def check_act_pair(act_cfg: Any) -> tuple:
    """``(hidden, gate)`` activation configs of an excitation MLP; one dict serves both."""
    if isinstance(act_cfg, dict):
        act_cfg = (act_cfg, act_cfg)
    if not isinstance(act_cfg, (list, tuple)) or len(act_cfg) != 2:
        raise TypeError(must('act_cfg', 'a dict or a pair of dicts (hidden, gate)', act_cfg))
    return (
        check_act_cfg('act_cfg[0]', act_cfg[0], HIDDEN_ACTIVATIONS),
        check_act_cfg('act_cfg[1]', act_cfg[1], GATE_ACTIVATIONS),
    )


def check_device(name: str, value: Any) -> Any:
    """Return ``torch.device(value)`` if it is ``'cpu'``, ``'cuda'`` or ``'cuda:N'`` of
    this machine.

    Example:
        >>> check_device('device', 'cpu')
        device(type='cpu')
        >>> check_device('device', 'tpu')
        Traceback (most recent call last):
        ...
        ValueError: device must be 'cpu', 'cuda' or 'cuda:N'; got 'tpu'
    """
    import torch

    try:
        device = torch.device(value)
    except (RuntimeError, TypeError):
        device = None
    if device is None or device.type not in ('cpu', 'cuda'):
        raise ValueError(f"{name} must be 'cpu', 'cuda' or 'cuda:N'; got {value!r}")
    count = torch.cuda.device_count() if device.type == 'cuda' else 0
    if device.type == 'cuda' and (device.index or 0) >= count:
        raise ValueError(f'{name} {value!r}: this machine has {count} CUDA device(s)')
    return device
