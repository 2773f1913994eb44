"""Moved to :mod:`se_plugin.cli`; this alias keeps ``se_plugin.runtime.cli``
imports working until every importer uses the new home."""

from se_plugin.cli import *  # noqa: F401,F403
from se_plugin.cli import __all__  # noqa: F401
