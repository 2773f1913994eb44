"""Grid specs: ``--sweep KEY=V1,V2,...`` as axes, and the grid of points they span.

A spec sweeps one config key (a dotted path, as for ``--cfg-options``) over its
values. Values are separated by commas outside brackets and quotes, so tuples
need no other separator (``attn_stages=(False,True),(True,True)``), and each
value is read by the one value grammar of the tools,
:mod:`se_plugin.cli.values` (mmengine's ``DictAction`` semantics; a value in
quotes stays that exact string, ``'None'``): type names stay strings
(``attn_cfg.type=se_plugin.SELayer,SELayer``).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

from se_plugin.cli.values import parse_value, split_values
from se_plugin.runtime.errors import ConfigError

_KEY = re.compile(r'^[A-Za-z_]\w*(\.\w+)*$')


class SweepError(ConfigError):
    """A sweep that cannot run as given (a user error: exit 2)."""


@dataclass(frozen=True)
class Axis:
    """One swept config key and its values; ``label`` names it in tables and dirs.

    Args:
        key (str): The dotted config key.
        values (tuple): The values, in sweep order.
        label (str): The short name of the key. Default: ''.

    Example:
        >>> Axis('model.backbone.attn_cfg.ratio', (2, 4), 'ratio').values
        (2, 4)
    """

    key: str
    values: tuple
    label: str = ''


@dataclass(frozen=True)
class Point:
    """One grid point: a name (its directory) and the config entries it sets.

    Args:
        name (str): The point's name, e.g. ``ratio-8_attn_position-post``.
        options (dict): Config key -> value, merged like ``--cfg-options``.

    Example:
        >>> point = Point('ratio-8', {'model.backbone.attn_cfg.ratio': 8})
        >>> point.values([Axis('model.backbone.attn_cfg.ratio', (8,), 'ratio')])
        (8,)
    """

    name: str
    options: dict = field(hash=False)

    def values(self, axes: Sequence[Axis]) -> tuple:
        """The point's value of each axis, in the axes' order."""
        return tuple(self.options[axis.key] for axis in axes)


def parse_sweep(spec: str) -> Axis:
    """``KEY=V1,V2,...`` as an :class:`Axis` (``label`` left empty).

    >>> parse_sweep('model.backbone.attn_cfg.ratio=2,4,8')
    Axis(key='model.backbone.attn_cfg.ratio', values=(2, 4, 8), label='')
    """
    if not isinstance(spec, str) or '=' not in spec:
        raise SweepError(f'--sweep {spec!r}: expected KEY=V1,V2,... (e.g. model.x.ratio=2,4)')
    key, _, text = spec.partition('=')
    key = key.strip()
    if not _KEY.match(key):
        raise SweepError(f'--sweep {spec!r}: {key!r} is not a dotted config key')
    if not text.strip():
        raise SweepError(f'--sweep {key}: no values after "="')
    try:
        items = split_values(text)
    except ValueError as err:
        raise SweepError(f'--sweep {key}: malformed values {text!r}: {err}') from None
    if any(not item.strip() for item in items):
        raise SweepError(f'--sweep {key}: empty value in {text!r} (values are V1,V2,...)')
    return Axis(key, tuple(parse_value(item) for item in items))


def _labels(keys: Sequence[str]) -> list:
    """The shortest dotted suffixes that tell the keys apart."""
    labels = []
    for key in keys:
        parts = key.split('.')
        for n in range(1, len(parts) + 1):
            label = '.'.join(parts[-n:])
            if sum(k == label or k.endswith('.' + label) for k in keys) == 1:
                break
        labels.append(label)
    return labels


def parse_sweeps(specs: Optional[Sequence[str]]) -> list:
    """The axes of several ``--sweep`` specs (labels filled in, keys distinct).

    >>> [a.label for a in parse_sweeps(['model.attn_cfg.ratio=2', 'model.head.ratio=1'])]
    ['attn_cfg.ratio', 'head.ratio']
    """
    axes = [parse_sweep(spec) for spec in specs or ()]
    keys = [axis.key for axis in axes]
    for i, key in enumerate(keys):
        for other in keys[:i]:
            if key == other or key.startswith(other + '.') or other.startswith(key + '.'):
                raise SweepError(f'--sweep {key}: overlaps --sweep {other}; sweep each key once')
    return [Axis(a.key, a.values, label) for a, label in zip(axes, _labels(keys))]


def slug(value: Any) -> str:
    """A value as a file-name-safe string.

    >>> slug(16), slug(0.5), slug((False, True)), slug('post'), slug(None)
    ('16', '0.5', 'False-True', 'post', 'None')
    """
    if isinstance(value, (list, tuple)):
        text = '-'.join(slug(v) for v in value) or 'empty'
    else:
        text = str(value)
    return re.sub(r'[^A-Za-z0-9.+-]+', '-', text).strip('-') or 'empty'


def _check_names(axis: Axis) -> None:
    """Distinct values of ``axis`` must give distinct point names."""
    seen = {}
    for value in axis.values:
        name = slug(value)
        if name in seen:
            raise SweepError(
                f'--sweep {axis.key}: values {seen[name]!r} and {value!r} give the same '
                f'point name {name!r}'
                if seen[name] != value or type(seen[name]) is not type(value)
                else f'--sweep {axis.key}: value {value!r} is given twice'
            )
        seen[name] = value


def grid(axes: Sequence[Axis]) -> list:
    """Every combination of the axes' values, named ``label-value[_label-value...]``.

    >>> [p.name for p in grid(parse_sweeps(['a.ratio=2,4', 'a.attn_position=standard,post']))]
    ['ratio-2_attn_position-standard', 'ratio-2_attn_position-post', 'ratio-4_attn_position-standard', 'ratio-4_attn_position-post']
    """  # noqa: E501
    if not axes:
        return [Point('base', {})]
    for axis in axes:
        _check_names(axis)
    points = []
    for values in itertools.product(*(axis.values for axis in axes)):
        name = '_'.join(f'{axis.label}-{slug(v)}' for axis, v in zip(axes, values))
        points.append(Point(name, {axis.key: v for axis, v in zip(axes, values)}))
    return points


__all__ = [
    'Axis',
    'Point',
    'SweepError',
    'grid',
    'parse_sweep',
    'parse_sweeps',
    'slug',
]
