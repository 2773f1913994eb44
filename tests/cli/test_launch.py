"""se_plugin.cli.launch: the worker side (rank, one error line per job, quiet
other ranks) and the launcher's decision between a user error and a bug.

The launcher itself, with 2 gloo processes: tests/tools/test_dist_cpu.py.
"""

import os
import subprocess
import sys
from types import SimpleNamespace

import pytest

from se_plugin.cli import launch

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.parametrize(
    'env, rank',
    [({}, 0), ({'RANK': '3'}, 3), ({'SLURM_PROCID': '2'}, 2), ({'RANK': '1', 'PMI_RANK': '5'}, 1)],
)
def test_launch_rank(monkeypatch, env, rank):
    for name in ('RANK', 'SLURM_PROCID', 'OMPI_COMM_WORLD_RANK', 'PMI_RANK'):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert launch.launch_rank() == rank


def test_report_user_error_goes_to_the_launcher_when_there_is_one(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv(launch.ERROR_DIR_ENV, raising=False)
    launch.report_user_error('error: alone')
    assert capsys.readouterr().err == 'error: alone\n'
    monkeypatch.setenv(launch.ERROR_DIR_ENV, str(tmp_path))
    monkeypatch.setenv('RANK', '1')
    launch.report_user_error('error: launched')
    assert capsys.readouterr().err == ''
    assert (tmp_path / 'rank1.txt').read_text() == 'error: launched'


def failures(*codes):
    return {rank: SimpleNamespace(exitcode=code) for rank, code in enumerate(codes)}


@pytest.mark.parametrize(
    'codes, lines, expected',
    [
        ((2, 2), {0: 'error: a', 1: 'error: b'}, 'error: a'),  # every rank: rank 0 speaks
        ((2, -15), {0: 'error: a'}, 'error: a'),  # the other rank stopped by torchrun
        ((-15, 2), {1: 'error: b'}, 'error: b'),  # only rank 1 failed: it speaks
        ((1, -15), {}, None),  # a bug: torchrun's report
        ((2, 1), {0: 'error: a'}, None),  # a user error and a bug: the bug wins
        ((2,), {}, None),  # exit 2 without a line (not one of ours)
    ],
)
def test_user_error_or_bug(tmp_path, codes, lines, expected):
    for rank, line in lines.items():
        (tmp_path / f'rank{rank}.txt').write_text(line)
    assert launch._user_error(failures(*codes), str(tmp_path)) == expected


def test_other_ranks_are_quiet():
    code = (
        'import logging, sys, warnings\n'
        'from se_plugin.cli.launch import quiet_other_ranks\n'
        'quiet_other_ranks()\n'
        "print('stdout line')\n"
        "warnings.warn('python warning')\n"
        "logging.getLogger('x').warning('log warning')\n"
        "logging.getLogger('x').error('a log error')\n"
        "sys.stderr.write('stderr line\\n')\n"
    )
    for rank, quiet in (('0', False), ('1', True)):
        env = dict(os.environ, PYTHONPATH=REPO, RANK=rank)
        proc = subprocess.run(
            [sys.executable, '-c', code], capture_output=True, text=True, env=env, cwd=REPO
        )
        assert proc.returncode == 0, proc.stderr
        out = proc.stdout + proc.stderr
        assert ('a log error' in out) and ('stderr line' in out)
        for text in ('stdout line', 'python warning', 'log warning'):
            assert (text in out) is not quiet, (rank, text)
