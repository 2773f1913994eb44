"""The argument parser every tool shares: one-line errors (exit 2), the
shared options (config, ``--work-dir``, ``--cfg-options``, ``--launcher``) and
int types for argparse.
"""

from __future__ import annotations

import argparse
import os

from .values import parse_value

EXIT_USER_ERROR = 2
LAUNCHERS = ('none', 'pytorch', 'slurm', 'mpi')


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
    tools' other user errors, instead of the usage block plus the error.

    Every tool gets ``--verbose``; without it the console stays quiet
    (:func:`~se_plugin.cli.console.quiet_console`, applied when the arguments
    are parsed).

    Example:
        >>> parser = ToolArgumentParser(prog='tool.py')
        >>> _ = parser.add_argument('--n', type=positive_int)
        >>> parser.parse_args(['--n', '0'])
        Traceback (most recent call last):
        ...
        SystemExit: 2
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.add_argument(
            '--verbose',
            action='store_true',
            help='also show what the console leaves out: third-party warnings and, when a '
            'Runner trains or tests, the config dump, environment, hook table and loader '
            'lines (always in the log file)',
        )

    def parse_known_args(self, args=None, namespace=None):
        namespace, rest = super().parse_known_args(args, namespace)
        from .console import quiet_console

        quiet_console(namespace.verbose)
        return namespace, rest

    def error(self, message: str):
        from .launch import report_user_error  # once for a whole distributed job

        report_user_error(f'error: {message} (see {self.prog} --help)')
        self.exit(EXIT_USER_ERROR)


class CfgOptionsAction(argparse.Action):
    """``--cfg-options KEY=VALUE ...`` into a dict, values read by
    :func:`~se_plugin.cli.values.parse_value` (mmengine ``DictAction``'s
    grammar); an entry without ``=``, with an empty key part or with
    unbalanced brackets is an argument error naming it.

    Example:
        >>> parser = ToolArgumentParser()
        >>> _ = parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction)
        >>> parser.parse_args(['--cfg-options', 'a.b=1', 'c=(1,2)', 'd=x']).cfg_options
        {'a.b': 1, 'c': (1, 2), 'd': 'x'}
    """

    def __call__(self, parser, namespace, values, option_string=None):
        options = dict(getattr(namespace, self.dest, None) or {})
        for kv in values or ():
            key, sep, text = kv.partition('=')
            if not sep or not key or any(not part for part in key.split('.')):
                raise argparse.ArgumentError(
                    self,
                    f'expected KEY=VALUE with a dotted KEY such as model.backbone.depth=50, '
                    f'got {kv!r}',
                )
            try:
                options[key] = parse_value(text)
            except ValueError as err:
                raise argparse.ArgumentError(self, f'{kv!r}: {err}') from None
        setattr(namespace, self.dest, options)


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
    parser.add_argument(
        '--launcher', choices=LAUNCHERS, default='none', help='job launcher (default: none)'
    )
    parser.add_argument(
        '--local_rank',
        '--local-rank',
        type=int,
        default=0,
        help='set by torch.distributed launchers (exported as LOCAL_RANK)',
    )
    return parser


def parse_tool_args(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """Parse, and export ``LOCAL_RANK`` for launchers that pass ``--local-rank``."""
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """``--partial-load``, shared by ``train.py`` and ``test.py``."""
    parser.add_argument(
        '--partial-load',
        action='store_true',
        help='load only the checkpoint tensors that fit the model (default: test.py needs an '
        'exact fit; load_from / init_cfg must fill at least half of the model)',
    )
