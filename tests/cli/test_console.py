"""se_plugin.cli.console: third-party warnings hidden unless --verbose (every tool has it)."""

import warnings

import pytest

from se_plugin.cli.console import THIRD_PARTY_WARNINGS, quiet_console
from se_plugin.cli.parser import ToolArgumentParser

NOTICES = [
    (FutureWarning, '`torch.jit.trace` is deprecated. Please switch to `torch.compile`.'),
    (UserWarning, 'pkg_resources is deprecated as an API. See https://setuptools.pypa.io'),
]


def warned(argv) -> list:
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter('always')
        ToolArgumentParser(prog='tool.py').parse_args(argv)
        for category, message in NOTICES:
            warnings.warn(message, category, stacklevel=1)
        warnings.warn('a warning of our own', UserWarning, stacklevel=1)
    return [str(w.message) for w in seen]


def test_quiet_by_default_and_verbose_shows_everything():
    assert warned([]) == ['a warning of our own']
    assert len(warned(['--verbose'])) == len(NOTICES) + 1


def test_every_notice_is_one_of_the_listed():
    assert len(THIRD_PARTY_WARNINGS) == len(NOTICES)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter('always')
        quiet_console(verbose=False)
        for category, message in NOTICES:
            warnings.warn(message, category, stacklevel=1)
    assert seen == []


@pytest.mark.parametrize('argv', [['--verbose'], []])
def test_verbose_is_a_flag_of_every_tool_parser(argv):
    assert ToolArgumentParser().parse_args(argv).verbose is bool(argv)
