"""tools/benchmark.py: tables, JSON, one-line errors (tiny models)."""

import json
import os.path as osp
from functools import partial

import pytest
from helpers import run_script

from tests.benchmark.tiny import TINY

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(ROOT, 'tools', 'benchmark.py')
run_tool = partial(run_script, TOOL)  # (monkeypatch, capsys, *args) -> (code, out, err)


def test_tool_writes_table_and_json(monkeypatch, capsys, tmp_path):
    out = tmp_path / 'bench.json'
    code, stdout, _ = run_tool(
        monkeypatch, capsys, TINY, '--baseline', 'torchvision.resnet18', '--batch', 2,
        '--size', 32, '--num-classes', 10, '--repeats', 2, '--warmup', 1, '--threads', 1,
        '--mode', 'train', '--out', out,
    )  # fmt: skip
    assert code == 0, stdout
    assert '1 thread(s)' in stdout and '| `torchvision.resnet18` | train |' in stdout
    assert json.loads(out.read_text())['baseline'] == 'torchvision.resnet18'


def test_tool_takes_a_one_channel_config(monkeypatch, capsys):
    """The quick-start configs: 1x28x28 digits, a 10-class head, beside a 3-channel peer."""
    config = osp.join(ROOT, 'configs', 'quickstart', 'se_resnet18_mnist5k.py')
    code, stdout, err = run_tool(
        monkeypatch, capsys, config, '--baseline', 'torchvision.resnet18', '--batch', 2,
        '--size', 28, '--repeats', 1, '--warmup', 0, '--threads', 1,
    )  # fmt: skip
    assert code == 0, err
    assert f'| `{config}` | inference |' in stdout and f'| `{config}` | train |' in stdout


def test_tool_user_errors_exit_2(monkeypatch, capsys):
    code, _, err = run_tool(monkeypatch, capsys, 'nope.Model', '--mode', 'train')
    assert code == 2 and err.startswith('error: ') and 'unknown scope' in err
    code, _, err = run_tool(monkeypatch, capsys, TINY, '--threads', 0)
    assert code == 2 and 'threads: must be an int >= 1' in err


@pytest.mark.parametrize(
    'args, match',
    [
        (['--batch', '0'], '--batch: must be an int >= 1, got 0'),
        (['--repeats', '0'], '--repeats: must be an int >= 1'),
        (['--warmup', '-1'], '--warmup: must be an int >= 0'),
        (['--size', 'x'], "invalid int value: 'x'"),
    ],
)
def test_tool_bad_sizes_are_one_line(monkeypatch, capsys, args, match):
    code, _, err = run_tool(monkeypatch, capsys, TINY, *args)
    assert code == 2 and len(err.strip().splitlines()) == 1 and match in err, err


def test_tool_out_that_cannot_be_written_is_refused_before_timing(monkeypatch, capsys, tmp_path):
    (tmp_path / 'file').write_text('')
    code, out, err = run_tool(monkeypatch, capsys, TINY, '--out', str(tmp_path / 'file' / 'r.json'))
    assert code == 2 and 'is a file, not a directory' in err and 'round' not in out
    code, _, err = run_tool(monkeypatch, capsys, TINY, '--out', str(tmp_path))
    assert code == 2 and 'is a directory' in err
