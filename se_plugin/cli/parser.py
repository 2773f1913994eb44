"""The argument parser every tool shares: one-line errors (exit 2), the
shared options (config, ``--work-dir``, ``--cfg-options``, ``--launcher``) and
int types for argparse.
"""

from __future__ import annotations

import argparse
import os
from typing import Optional

from mmengine.config import DictAction

EXIT_USER_ERROR = 2
LAUNCHERS = ('none', 'pytorch', 'slurm', 'mpi')
_BRACKETS = {'(': ')', '[': ']', '{': '}'}


def _unbalanced(text: str) -> Optional[str]:
    """What is wrong with the brackets of a ``--cfg-options`` value, or None."""
    stack, quote = [], None
    for ch in text:
        if quote:
            quote = None if ch == quote else quote
        elif ch in '\'"':
            quote = ch
        elif ch in _BRACKETS:
            stack.append(_BRACKETS[ch])
        elif ch in _BRACKETS.values() and (not stack or stack.pop() != ch):
            return f'unexpected {ch!r}'
    return f'missing {stack[-1]!r}' if stack else None


def _int_at_least(minimum: int):
    """An argparse ``type``: an int >= ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f'invalid int value: {text!r}') from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f'must be an int >= {minimum}, got {value}')
        return value

    return parse


positive_int = _int_at_least(1)
non_negative_int = _int_at_least(0)


class ToolArgumentParser(argparse.ArgumentParser):
    """``ArgumentParser`` whose errors are one line on stderr (exit 2), like the
    tools' other user errors, instead of the usage block plus the error."""

    def error(self, message: str):
        self.exit(EXIT_USER_ERROR, f'error: {message} (see {self.prog} --help)\n')


class CfgOptionsAction(DictAction):
    """mmengine's ``DictAction`` (``--cfg-options KEY=VALUE ...``) that reports an
    entry without ``=`` or with an empty key as an argument error."""

    def __call__(self, parser, namespace, values, option_string=None):
        for kv in values or ():
            key, sep, _ = kv.partition('=')
            if not sep or not key or any(not part for part in key.split('.')):
                raise argparse.ArgumentError(
                    self,
                    f'expected KEY=VALUE with a dotted KEY such as model.backbone.depth=50, '
                    f'got {kv!r}',
                )
            problem = _unbalanced(kv.partition('=')[2])
            if problem:
                raise argparse.ArgumentError(self, f'{kv!r}: unbalanced brackets ({problem})')
        try:
            super().__call__(parser, namespace, values, option_string)
        except Exception as err:  # mmengine's value parser asserts on odd input
            raise argparse.ArgumentError(self, f'cannot parse {values!r}: {err}') from None


def tool_parser(description: str, cfg_options_example: str) -> ToolArgumentParser:
    """The arguments every tool shares: the config, ``--work-dir``,
    ``--cfg-options``, ``--launcher`` and torch.distributed's ``--local-rank``."""
    parser = ToolArgumentParser(description=description)
    parser.add_argument('config', help='config file path')
    parser.add_argument('--work-dir', help='where logs and checkpoints go')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=CfgOptionsAction,
        help=f'override config entries, e.g. {cfg_options_example}',
    )
    parser.add_argument('--launcher', choices=LAUNCHERS, default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    return parser


def parse_tool_args(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """Parse, and export ``LOCAL_RANK`` for launchers that pass ``--local-rank``."""
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """``--partial-load`` and ``--verbose``, shared by ``train.py`` and ``test.py``."""
    parser.add_argument(
        '--partial-load',
        action='store_true',
        help='load only the checkpoint tensors that fit the model (default: test.py needs an '
        'exact fit; load_from / init_cfg must fill at least half of the model)',
    )
    parser.add_argument(
        '--verbose',
        action='store_true',
        help='also print the config dump, environment and hook table (always in the log file)',
    )
