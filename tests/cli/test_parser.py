"""se_plugin.cli.parser: one-line argument errors, --cfg-options, int types."""

import pytest

from se_plugin.cli.parser import (
    EXIT_USER_ERROR,
    CfgOptionsAction,
    ToolArgumentParser,
    non_negative_int,
    positive_int,
    tool_parser,
)
from se_plugin.cli.values import parse_value


def parser():
    p = ToolArgumentParser(prog='tool.py')
    p.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction)
    p.add_argument('--n', type=positive_int)
    p.add_argument('--k', type=non_negative_int)
    return p


@pytest.mark.parametrize('text', ['8', '(1,2,2,2)', '[(1,2),[a,b]]', 'None', 'x.y', "'None'"])
def test_cfg_options_values_are_the_value_grammar(text):
    options = parser().parse_args(['--cfg-options', f'model.a={text}', 'b=1']).cfg_options
    assert options == {'model.a': parse_value(text), 'b': 1}


@pytest.mark.parametrize(
    'argv, needle',
    [
        (['--cfg-options', 'novalue'], 'expected KEY=VALUE with a dotted KEY such as'),
        (['--cfg-options', '=1'], "got '=1'"),
        (['--cfg-options', 'a..b=1'], "got 'a..b=1'"),
        (['--cfg-options', 'a=(1,2'], "'a=(1,2': unclosed '(': unbalanced brackets (missing ')')"),
        (['--cfg-options', 'a=[1]]'], "unbalanced brackets (unexpected ']')"),
        (['--n', '0'], '--n: must be an int >= 1, got 0'),
        (['--k', '-1'], '--k: must be an int >= 0, got -1'),
        (['--n', 'x'], "invalid int value: 'x'"),
        (['--nope'], 'unrecognized arguments: --nope'),
    ],
)
def test_errors_are_one_line_exit_2(argv, needle, capsys):
    with pytest.raises(SystemExit) as exc:
        parser().parse_args(argv)
    err = capsys.readouterr().err
    assert exc.value.code == EXIT_USER_ERROR
    assert err.count('\n') == 1 and err.startswith('error: ') and needle in err, err
    assert err.rstrip().endswith('(see tool.py --help)')


def test_tool_parser_shares_the_options():
    args = tool_parser('d', 'a.b=1').parse_args(['c.py', '--cfg-options', 'a.b=2'])
    assert (args.config, args.cfg_options, args.launcher, args.local_rank) == (
        'c.py',
        {'a.b': 2},
        'none',
        0,
    )
