"""The files of a sweep: their names, and JSON that keeps tuples and infinities.

Layout of a sweep's work dir::

    sweep.json            the last invocation (config, axes, seeds, options)
    results.csv/.md/.png  per point (see :mod:`se_plugin.sweep.report`)
    runs.csv              per point and seed
    <point>/seed<k>/      one run: point.json (what runs there), ablate.log (its
                          output), progress.jsonl (what it has done so far, see
                          :mod:`se_plugin.sweep.progress`), mmengine's checkpoints
                          and logs, test/ and result.json

Every finished file is written with :func:`se_plugin.runtime.atomic.atomic_open`
(through :func:`~se_plugin.runtime.atomic.atomic_write_text`); a reader sees an
old or a new file, never a torn one.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from typing import Any, Optional

SWEEP_FILE = 'sweep.json'
POINT_FILE = 'point.json'
RESULT_FILE = 'result.json'
LOG_FILE = 'ablate.log'


def plain(obj: Any) -> Any:
    """ConfigDicts and lists as plain dicts and lists (tuples kept).

    >>> plain({'a': [1, (2, 3)]})
    {'a': [1, (2, 3)]}
    """
    if isinstance(obj, Mapping):
        return {k: plain(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [plain(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(plain(v) for v in obj)
    return obj


def encode(obj: Any) -> Any:
    """JSON form that keeps tuples apart from lists (``{"__tuple__": [...]}``).

    >>> encode({'a': (1, 2), 'b': float('inf')})
    {'a': {'__tuple__': [1, 2]}, 'b': {'__float__': 'inf'}}
    """
    if isinstance(obj, tuple):
        return {'__tuple__': [encode(v) for v in obj]}
    if isinstance(obj, list):
        return [encode(v) for v in obj]
    if isinstance(obj, Mapping):
        return {str(k): encode(v) for k, v in obj.items()}
    if isinstance(obj, float) and not math.isfinite(obj):
        return {'__float__': repr(obj)}
    return obj


def decode(obj: Any) -> Any:
    """Inverse of :func:`encode`.

    >>> decode(json.loads(json.dumps(encode({'a': (1, [2, (3,)]), 'b': float('inf')}))))
    {'a': (1, [2, (3,)]), 'b': inf}
    """
    if isinstance(obj, list):
        return [decode(v) for v in obj]
    if isinstance(obj, dict):
        if set(obj) == {'__tuple__'}:
            return tuple(decode(v) for v in obj['__tuple__'])
        if set(obj) == {'__float__'}:
            return float(obj['__float__'])
        return {k: decode(v) for k, v in obj.items()}
    return obj


def json_text(data: Any) -> str:
    """``data`` as the JSON text of a sweep file (indented, keys sorted).

    >>> json_text({'b': 1, 'a': [2]})
    '{\\n  "a": [\\n    2\\n  ],\\n  "b": 1\\n}'
    """
    return json.dumps(data, indent=2, sort_keys=True)


def read_json(path: str) -> Optional[Any]:
    """The JSON in ``path``, or None if it is missing or unreadable (a torn write)."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def config_digest(cfg) -> str:
    """A digest of a merged config's contents: a run notices an edited config file."""
    text = json.dumps(encode(plain(cfg.to_dict())), sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def describe(value: Any) -> str:
    """A value as it is written in a sweep's messages (strings quoted).

    >>> describe('post'), describe(4), describe(None)
    ("'post'", '4', 'None')
    """
    return repr(value) if isinstance(value, str) else str(value)


__all__ = [
    'LOG_FILE',
    'POINT_FILE',
    'RESULT_FILE',
    'SWEEP_FILE',
    'config_digest',
    'decode',
    'describe',
    'encode',
    'json_text',
    'plain',
    'read_json',
]
