"""tools/ablate.py: one-line errors (exit 2), the dry run, its locks and kill -9."""

import json
import os
import os.path as osp
import subprocess
import sys
import time
from functools import partial

import pytest
from helpers import QUICKSTART, ROOT, TINY_OPTIONS, run_script

from se_plugin.runtime.workdir_lock import lock_work_dir

TOOL = osp.join(ROOT, 'tools', 'ablate.py')

run_tool = partial(run_script, TOOL)  # (monkeypatch, capsys, *args) -> (code, out, err)


@pytest.mark.parametrize(
    'sweep, needle',
    [
        ('model.backbone.attn_cfg.ratio=', '--sweep model.backbone.attn_cfg.ratio: no values'),
        ('model.backbone.attn_cfg.ratio', 'expected KEY=V1,V2'),
        ('modle.backbone.depth=18,34', "the config has no 'modle'"),
        ('model.backbone.attn_position=standard,middle', 'attn_position must be one of'),
        (
            'model.backbone.attn_cfg.type=se_plugin.SELayer,NoSuchLayer',
            "must be a registered attention type (e.g. 'se_plugin.SELayer'), got 'NoSuchLayer'",
        ),
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


@pytest.mark.slow
def test_kill_9_of_a_sweep_takes_its_worker_along(monkeypatch, capsys, tmp_path):
    """One lock discipline: while a sweep trains, a second sweep in its work dir and a
    train.py into the running point's folder are refused naming the holder; kill -9 of
    the sweep ends its worker too, so the point's folder is free for a rerun."""
    options = {**TINY_OPTIONS, 'train_cfg.max_epochs': 1000}  # killed long before the end
    args = [QUICKSTART, '--cfg-options', *(_option(k, v) for k, v in options.items())]
    args += ['--work-dir', str(tmp_path / 'w')]
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=ROOT)
    sweep = subprocess.Popen(
        [sys.executable, TOOL, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    point = tmp_path / 'w' / 'base' / 'seed0'
    try:
        deadline = time.monotonic() + 300
        while not (point / 'progress.jsonl').exists():  # the worker trains
            assert sweep.poll() is None, sweep.stderr.read().decode()
            assert time.monotonic() < deadline, 'the sweep did not start training'
            time.sleep(0.2)
        holder = (point / '.se_plugin.lock').read_text()
        assert holder.endswith('tools/ablate.py worker'), holder
        worker = int(holder.split()[1])

        code, _, err = run_tool(monkeypatch, capsys, *args)
        assert code == 2 and f'in use by another run (pid {sweep.pid} ' in err, err
        train = osp.join(ROOT, 'tools', 'train.py')
        code, _, err = run_script(train, monkeypatch, capsys, QUICKSTART, '--work-dir', point)
        assert code == 2 and f'in use by another run (pid {worker} ' in err, err
        assert len(err.strip().splitlines()) == 1, err

        sweep.kill()
        sweep.wait()
        while _alive(worker):
            assert time.monotonic() < deadline + 30, 'the worker outlived the killed sweep'
            time.sleep(0.05)
        with lock_work_dir(str(point)):  # free: a rerun trains here alone
            pass
    finally:
        sweep.kill()
        sweep.wait()


def _alive(pid):
    try:
        with open(f'/proc/{pid}/stat') as f:
            return f.read().split(') ')[1][0] != 'Z'
    except FileNotFoundError:
        return False
