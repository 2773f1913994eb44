"""The one grammar of ``key=value`` values on the command line.

Every tool that takes ``KEY=VALUE`` input (``--cfg-options`` through
:class:`~se_plugin.cli.parser.CfgOptionsAction`, ``benchmark.py``'s
``MODEL:k=v`` specs, and ``ablate.py --sweep`` values) reads its values here,
the way mmengine's ``DictAction`` reads ``--cfg-options``:

* ``16`` -> int, ``0.5`` / ``1e-3`` / ``inf`` -> float, ``true`` / ``False``
  (any case) -> bool, ``None`` -> None, anything else -> the text itself;
* ``[a,b]`` -> list, ``(a,b)`` -> tuple, nested (``[(1,2),[a,b]]``); bare
  ``a,b`` -> list; spaces are dropped (mmengine removes them);
* one addition: a value quoted as a whole (``'None'``, ``"a,b"``) is that
  string, unparsed (mmengine strips the quotes and parses the rest).

:func:`parse_value` hands everything but a quoted value to ``DictAction``
itself, through its public interface (an argparse action called with
``['value=TEXT']``), so the semantics are mmengine's own and follow its
version; its private ``_parse_iterable`` is not called. Brackets are checked
first (:func:`split_values`), so unbalanced input is a ``ValueError`` naming
the problem instead of mmengine's ``AssertionError``.
"""

from __future__ import annotations

import argparse
from typing import Any

_PAIRS = {'(': ')', '[': ']', '{': '}'}
_QUOTES = '\'"'


def split_values(text: str) -> list:
    """Split at the commas outside brackets and quotes (items not stripped).

    Args:
        text (str): Comma-separated values, e.g. ``2,(1,2),"a,b"``.

    Returns:
        list[str]: The items, empty ones included (``'2,'`` -> ``['2', '']``).

    Raises:
        ValueError: A bracket closed that was not open, a bracket left open,
            or a quote left open; the message names it.

    Example:
        >>> split_values('2,4,(1,2),[3,4],"a,b"')
        ['2', '4', '(1,2)', '[3,4]', '"a,b"']
        >>> split_values('(1,2')
        Traceback (most recent call last):
        ...
        ValueError: unclosed '(': unbalanced brackets (missing ')')
    """
    items, closers, quote, start = [], [], None, 0
    for i, char in enumerate(text):
        if quote:
            quote = None if char == quote else quote
        elif char in _QUOTES:
            quote = char
        elif char in _PAIRS:
            closers.append(_PAIRS[char])
        elif char in ')]}':
            if not closers or closers.pop() != char:
                raise ValueError(f'unbalanced brackets (unexpected {char!r})')
        elif char == ',' and not closers:
            items.append(text[start:i])
            start = i + 1
    if quote:
        raise ValueError(f'unclosed quote {quote}')
    if closers:
        opening = {v: k for k, v in _PAIRS.items()}[closers[-1]]
        raise ValueError(f'unclosed {opening!r}: unbalanced brackets (missing {closers[-1]!r})')
    items.append(text[start:])
    return items


def parse_value(text: str) -> Any:
    """One value, read like mmengine's ``DictAction`` (see the module docstring).

    Args:
        text (str): The value as typed (surrounding spaces are ignored).

    Returns:
        int | float | bool | None | str | list | tuple: The value.

    Raises:
        ValueError: Unbalanced brackets or an unclosed quote.

    Example:
        >>> parse_value('16'), parse_value('0.5'), parse_value('None'), parse_value('post')
        (16, 0.5, None, 'post')
        >>> parse_value('(False,True)'), parse_value('[(1,2),[a,b]]')
        ((False, True), [(1, 2), ['a', 'b']])
        >>> parse_value("'None'"), parse_value('"a,b"')
        ('None', 'a,b')
    """
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in _QUOTES:
        return text[1:-1]
    split_values(text)  # brackets and quotes checked: a ValueError naming the problem
    from mmengine.config import DictAction  # imported when a value is read, not for --help

    namespace = argparse.Namespace()
    DictAction(option_strings=[], dest='options')(None, namespace, [f'value={text}'])
    return namespace.options['value']


__all__ = ['parse_value', 'split_values']
