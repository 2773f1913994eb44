"""se_plugin.cli.values: the one grammar of key=value values."""

import argparse

import pytest
from mmengine.config import DictAction

from se_plugin.cli.values import parse_value, split_values


def dict_action(text):
    """What mmengine's DictAction makes of ``--cfg-options k=TEXT``."""
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(['--cfg-options', f'k={text}']).cfg_options['k']


@pytest.mark.parametrize(
    'text',
    [
        '16',
        '-3',
        '0.5',
        '1e-3',
        'inf',
        'True',
        'false',
        'None',
        'post',
        'se_plugin.SELayer',
        '1,2,3',
        '[a, b, c]',
        '(1,2,2,2)',
        '[(1, 2, 3), [a, b], c]',
        '(False,True,True,True)',
        '[]',
        '()',
        '',
    ],
)
def test_parse_value_is_mmengine_dict_action(text):
    value = parse_value(text)
    assert value == dict_action(text)
    assert type(value) is type(dict_action(text))


@pytest.mark.parametrize(
    'text, expected',
    [("'None'", 'None'), ('"a,b"', 'a,b'), ("'16'", '16'), ('  7 ', 7), ('"[1,2]"', '[1,2]')],
)
def test_quoted_whole_value_is_a_string_and_spaces_around_are_ignored(text, expected):
    assert parse_value(text) == expected
    assert type(parse_value(text)) is type(expected)


@pytest.mark.parametrize(
    'text, items',
    [
        ('2,4,(1,2),[3,4],"a,b"', ['2', '4', '(1,2)', '[3,4]', '"a,b"']),
        ('(1,(2,3)),[4,5],6', ['(1,(2,3))', '[4,5]', '6']),
        ("a='x,y',b={c:1,d:2}", ["a='x,y'", 'b={c:1,d:2}']),
        ('2,', ['2', '']),
        ('', ['']),
    ],
)
def test_split_values(text, items):
    assert split_values(text) == items
    assert ','.join(split_values(text)) == text


@pytest.mark.parametrize(
    'text, needle',
    [
        ('(True,True', "unbalanced brackets (missing ')')"),
        ('(True,True', "unclosed '('"),
        ('[True]]', "unbalanced brackets (unexpected ']')"),
        ('(1,2]', "unexpected ']'"),
        ("'x", 'unclosed quote'),
    ],
)
@pytest.mark.parametrize('function', [split_values, parse_value])
def test_malformed_values_are_one_value_error(function, text, needle):
    with pytest.raises(ValueError) as info:
        function(text)
    assert needle in str(info.value)
    assert '\n' not in str(info.value)
