"""se_plugin.sweep.records: JSON that keeps tuples and infinities, tolerant reads."""

import json

import pytest

from se_plugin.sweep import decode, encode
from se_plugin.sweep.records import json_text, read_json


def test_encode_roundtrip():
    value = {'k': [(False, True), {'x': (1.5, None)}], 'inf': float('inf')}
    assert decode(json.loads(json.dumps(encode(value)))) == value


@pytest.mark.parametrize('content', [None, '', '{"a": 1', 'not json'])
def test_read_json_missing_or_torn(tmp_path, content):
    path = tmp_path / 'x.json'
    if content is not None:
        path.write_text(content)
    assert read_json(str(path)) is None


def test_json_text_reads_back(tmp_path):
    data = {'b': [1, 2], 'a': {'c': None}}
    path = tmp_path / 'x.json'
    path.write_text(json_text(data))
    assert read_json(str(path)) == data
    assert json_text(data).index('"a"') < json_text(data).index('"b"')  # keys sorted
