"""tools/misc/mnist5k_digits.py: the digit images the README's Grad-CAM command reads."""

import os

import pytest
from helpers import ROOT, run_script

TOOL = os.path.join(ROOT, 'tools', 'misc', 'mnist5k_digits.py')


def test_writes_one_png_per_class(tmp_path, monkeypatch, capsys):
    out = tmp_path / 'digits'
    code, stdout, err = run_script(TOOL, monkeypatch, capsys, out)
    assert code == 0, err
    assert sorted(os.listdir(out)) == [f'{k}.png' for k in range(10)]
    assert stdout.strip() == f'saved 10 digits: {out}/0.png ... {out}/9.png'


@pytest.mark.parametrize(
    'args, match',
    [
        (['--index', '100'], 'error: index must be < 100 (images per class in the test split)'),
        (['--index', '-1'], 'error: argument --index: must be an int >= 0, got -1'),
        (['--split', 'val'], "error: argument --split: invalid choice: 'val'"),
    ],
)
def test_bad_arguments_are_one_line(tmp_path, monkeypatch, capsys, args, match):
    code, _, err = run_script(TOOL, monkeypatch, capsys, tmp_path / 'digits', *args)
    assert code == 2 and err.startswith(match) and len(err.splitlines()) == 1


def test_out_dir_that_is_a_file(tmp_path, monkeypatch, capsys):
    (tmp_path / 'f').write_text('x')
    code, _, err = run_script(TOOL, monkeypatch, capsys, tmp_path / 'f')
    assert code == 2 and err.startswith(f'error: OUT_DIR {tmp_path / "f"} exists and is not a')
