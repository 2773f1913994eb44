"""The error of a conversion, and how its messages list keys."""

from __future__ import annotations

_LIST_LIMIT = 8


class ConversionError(ValueError):
    """Weights that cannot become the requested se_plugin model."""


def _preview(items: list, limit: int = _LIST_LIMIT) -> str:
    items = [str(i) for i in items]
    shown = ', '.join(items[:limit])
    more = len(items) - limit
    return shown + (f', ... and {more} more' if more > 0 else '') if items else '(none)'
