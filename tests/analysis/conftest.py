"""Paths and the tiny-run options shared by the analysis tests (the tiny sweep
itself, ``tiny_sweep``, is a fixture of ``tests/conftest.py``)."""

from helpers import QUICKSTART, ROOT, TINY_OPTIONS

__all__ = ['QUICKSTART', 'ROOT', 'TINY_OPTIONS']
