"""Argument checks shared by the layers and backbones.

Every check raises :class:`ValueError` or :class:`TypeError` whose message names
the argument, the bad value and what is allowed, so that a config typo is
answered by one clear line instead of an ``AssertionError`` deep in a build.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

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


class ChoiceError(ValueError, KeyError):
    """A value outside a closed set (e.g. a depth): a ValueError, and a KeyError as
    mmpretrain raises for unknown depths, so callers catching either keep working."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ''


def check_int(name: str, value: Any, minimum: int | None = None) -> int:
    """Return ``value`` as an int if it is an integer (not a bool; numpy too) >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f'{name} must be an int, got {value!r} ({type(value).__name__})')
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f'{name} must be >= {minimum}, got {value}')
    return value


def check_positive_number(name: str, value: Any) -> float:
    """Return ``value`` if it is a real number > 0 (numpy scalars too)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f'{name} must be a number, got {value!r} ({type(value).__name__})')
    if not value > 0:
        raise ValueError(f'{name} must be > 0, got {value}')
    return value


def check_choice(name: str, value: Any, allowed: Sequence) -> Any:
    """Return ``value`` if it is one of ``allowed``."""
    if not isinstance(value, str) or value not in allowed:
        choices = ', '.join(repr(a) for a in allowed)
        raise ValueError(f'{name} must be one of {choices}; got {value!r}')
    return value


def check_act_cfg(name: str, cfg: Any, allowed: Sequence) -> dict:
    """Return a copy of an activation config dict whose ``type`` is allowed."""
    if not isinstance(cfg, dict) or 'type' not in cfg:
        raise TypeError(f"{name} must be a dict with a 'type' key, got {cfg!r}")
    check_choice(f'{name}["type"]', cfg['type'], allowed)
    return dict(cfg)


def check_bool_tuple(name: str, value: Any, length: int) -> tuple:
    """Return ``value`` as a tuple of ``length`` bools."""
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, bool) for v in value):
        raise TypeError(f'{name} must be a tuple of {length} bools, got {value!r}')
    if len(value) != length:
        raise ValueError(f'{name} must have {length} entries (one per stage), got {len(value)}')
    return tuple(value)


def check_cfg(name: str, value: Any, optional: bool = True) -> dict | None:
    """Return a copy of a config dict with a ``type`` key (or None if allowed)."""
    if value is None and optional:
        return None
    if not isinstance(value, dict) or 'type' not in value:
        raise TypeError(f"{name} must be a dict with a 'type' key or None, got {value!r}")
    return dict(value)


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


def check_fraction(name: str, value: Any) -> float:
    """Return ``value`` if it is a real number in ``[0, 1)`` (a drop rate)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(
            f'{name} must be a number in [0, 1), got {value!r} ({type(value).__name__})'
        )
    if not 0 <= value < 1:
        raise ValueError(f'{name} must be in [0, 1), got {value}')
    return value


def check_int_tuple(
    name: str, value: Any, length: int, minimum: int | None = None, per: str = 'stage'
) -> tuple:
    """Return ``value`` as a tuple of ``length`` ints (one ``per`` thing), each >= ``minimum``."""
    if not isinstance(value, (list, tuple)):
        raise TypeError(f'{name} must be a tuple of {length} ints, got {value!r}')
    if len(value) != length:
        raise ValueError(f'{name} must have {length} entries (one per {per}), got {value!r}')
    for i, v in enumerate(value):
        check_int(f'{name}[{i}]', v, minimum)
    return tuple(value)


class UnknownTypeError(ValueError, KeyError):
    """A config ``type`` that names no registered class.

    A ValueError (a bad argument value) and, like mmengine's own registry
    misses, a KeyError, so both ways of catching it work.
    """

    __str__ = Exception.__str__  # KeyError's would quote the message


def check_registered(name: str, cfg: Any, registry: Any = None, kind: str = '') -> dict | None:
    """Return a copy of a layer config whose ``type`` is a class name found in
    ``registry`` (default: mmengine's ``MODELS``, where mmcv's conv/norm
    builders look, from the current default scope), or None for None.

    mmcv's ``build_conv_layer``/``build_norm_layer`` answer an unknown type with
    ``KeyError('Cannot find None in registry ...')``; this names the type.
    """
    cfg = check_cfg(name, cfg)
    if cfg is None:
        return None
    if registry is None:
        from mmengine.registry import MODELS as registry
    layer_type = cfg['type']
    if isinstance(layer_type, type):
        return cfg
    if not isinstance(layer_type, str):
        raise TypeError(f"{name}['type'] must be a str, got {layer_type!r}")
    with registry.switch_scope_and_registry(None) as scoped:
        try:
            found = scoped.get(layer_type)
        except (RuntimeError, KeyError, ImportError, AttributeError):
            found = None
    if found is None:
        raise UnknownTypeError(
            f'{name}: {layer_type!r} is not a registered {kind + " " if kind else ""}layer type'
        )
    return cfg


def check_conv2d(name: str, conv: Any, cfg: Any) -> Any:
    """Return a built conv layer if it convolves 2-D maps (refuses e.g. ``Conv1d``/``Conv3d``)."""
    kernel = getattr(conv, 'kernel_size', None)
    if not isinstance(kernel, tuple) or len(kernel) != 2:
        raise ValueError(
            f'{name}={cfg!r} builds a {type(conv).__name__}; the layer needs a 2-D '
            'convolution (None, or a type such as Conv2d)'
        )
    return conv


def check_odd(name: str, value: Any) -> int:
    """Return ``value`` as an int if it is a positive odd integer (a shape-keeping kernel)."""
    value = check_int(name, value, minimum=1)
    if value % 2 == 0:
        raise ValueError(f'{name} must be odd (the output keeps the input size), got {value}')
    return value


def check_feature_map(owner: str, x: Any, channels: int) -> None:
    """Refuse an input of the layer ``owner`` that is not an ``(N, channels, H, W)`` tensor."""
    if x.dim() != 4 or x.shape[1] != channels:
        raise ValueError(
            f'{owner} expects an (N, {channels}, H, W) input, got shape {tuple(x.shape)}'
        )


def check_real(name: str, value: Any) -> float:
    """Return ``value`` if it is a finite real number (numpy scalars too; not a bool)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f'{name} must be a number, got {value!r} ({type(value).__name__})')
    if not math.isfinite(value):
        raise ValueError(f'{name} must be finite, got {value}')
    return value


def check_squeeze_width(in_channels: int, ratio: Any, squeeze_channels: Any, divisor: Any) -> int:
    """The hidden width of an excitation MLP: ``squeeze_channels`` if given, else
    ``make_divisible(in_channels / ratio, divisor)`` (mmpretrain's rounding); in
    ``[1, in_channels]``."""
    from mmpretrain.models.utils import make_divisible

    divisor = check_int('divisor', divisor, minimum=1)
    if squeeze_channels is None:
        check_positive_number('ratio', ratio)
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
        raise TypeError(f'act_cfg must be a dict or a pair of dicts, got {act_cfg!r}')
    return (
        check_act_cfg('act_cfg[0]', act_cfg[0], HIDDEN_ACTIVATIONS),
        check_act_cfg('act_cfg[1]', act_cfg[1], GATE_ACTIVATIONS),
    )
