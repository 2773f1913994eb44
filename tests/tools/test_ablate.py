"""tools/ablate.py: one-line errors (exit 2) and the dry run."""

import json
import os.path as osp
from functools import partial

import pytest
from helpers import QUICKSTART, ROOT, TINY_OPTIONS, run_script

TOOL = osp.join(ROOT, 'tools', 'ablate.py')

run_tool = partial(run_script, TOOL)  # (monkeypatch, capsys, *args) -> (code, out, err)


@pytest.mark.parametrize(
    'sweep, needle',
    [
        ('model.backbone.attn_cfg.ratio=', '--sweep model.backbone.attn_cfg.ratio: no values'),
        ('model.backbone.attn_cfg.ratio', 'expected KEY=V1,V2'),
        ('modle.backbone.depth=18,34', "the config has no 'modle'"),
        ('model.backbone.attn_position=standard,middle', 'attn_position must be one of'),
        ('model.backbone.attn_cfg.type=se_plugin.SELayer,NoSuchLayer', "'NoSuchLayer' is not a"),
    ],
)
def test_tool_bad_specs(monkeypatch, capsys, tmp_path, sweep, needle):
    code, out, err = run_tool(
        monkeypatch, capsys, QUICKSTART, '--sweep', sweep, '--work-dir', tmp_path, '--dry-run'
    )
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('error: ') and needle in lines[0], err


def test_tool_dry_run(monkeypatch, capsys, tmp_path):
    code, out, err = run_tool(
        monkeypatch,
        capsys,
        QUICKSTART,
        '--sweep',
        'model.backbone.attn_stages=(False,True,True,True),(True,True,True,True)',
        '--sweep',
        'model.backbone.attn_position=standard,post',
        '--max-epochs',
        '1',
        '--work-dir',
        tmp_path / 'w',
        '--dry-run',
    )
    assert code == 0, err
    assert 'attn_stages-False-True-True-True_attn_position-post/seed0' in out
    assert len([line for line in out.splitlines() if '/seed0:' in line]) == 4
    assert not osp.exists(tmp_path / 'w')


def test_tool_dry_run_over_attention_types(monkeypatch, capsys, tmp_path):
    code, out, err = run_tool(
        monkeypatch,
        capsys,
        QUICKSTART,
        '--sweep',
        'model.backbone.attn_cfg.type=se_plugin.SELayer,SELayer',
        '--seeds',
        '0',
        '1',
        '--work-dir',
        tmp_path / 'w',
        '--dry-run',
    )
    assert code == 0, err
    runs = [line.split(':')[0] for line in out.splitlines() if '/seed' in line]
    assert runs == [
        'type-se-plugin.SELayer/seed0',
        'type-se-plugin.SELayer/seed1',
        'type-SELayer/seed0',
        'type-SELayer/seed1',
    ]
    assert str(tmp_path / 'w' / 'type-SELayer' / 'seed1') in out


@pytest.mark.parametrize(
    'option, needle',
    [
        ('model.backbone.depth', 'expected KEY=VALUE'),
        ('model.backbone.attn_stages=(True,False', 'unclosed'),
    ],
)
def test_tool_bad_cfg_options(monkeypatch, capsys, tmp_path, option, needle):
    code, _, err = run_tool(
        monkeypatch,
        capsys,
        QUICKSTART,
        '--cfg-options',
        option,
        '--work-dir',
        tmp_path,
        '--dry-run',
    )
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('error: ') and needle in lines[0], err


def _option(key, value):
    return f'{key}={value!r}'.replace(' ', '')


@pytest.mark.slow
def test_tool_sweeps_a_type_name(monkeypatch, capsys, tmp_path):
    """A real one-run sweep over an attention type name, through the command line."""
    options = [_option(k, v) for k, v in TINY_OPTIONS.items()]
    work = tmp_path / 'w'
    code, out, err = run_tool(
        monkeypatch,
        capsys,
        QUICKSTART,
        '--sweep',
        'model.backbone.attn_cfg.type=se_plugin.SELayer',
        '--max-epochs',
        '1',
        '--cfg-options',
        *options,
        '--work-dir',
        work,
    )
    assert code == 0, err
    assert '[1/1] type-se-plugin.SELayer/seed0: accuracy/top1 ' in out
    assert '| type-se-plugin.SELayer | se_plugin.SELayer |' in out  # results.md, printed
    result = json.loads((work / 'type-se-plugin.SELayer' / 'seed0' / 'result.json').read_text())
    assert result['spec']['options']['model.backbone.attn_cfg.type'] == 'se_plugin.SELayer'
    assert result['checkpoint'].endswith('epoch_1.pth')
