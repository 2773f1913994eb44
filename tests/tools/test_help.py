"""``--help`` and argument errors of every tool answer before anything heavy is imported.

Each tool runs in a fresh interpreter with ``--help`` and with an unknown
option; what it imported is read from ``sys.modules`` at exit. Not timed (the
machine's load would make a timed test flaky): importing no torch, mmengine,
mmpretrain, mmcv or numpy is what makes the answer instant
(``docs/benchmark.md`` has the measured times).
"""

import glob
import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOLS = sorted(
    os.path.relpath(path, REPO)
    for pattern in ('tools/*.py', 'tools/analysis/*.py', 'tools/visualization/*.py')
    for path in glob.glob(os.path.join(REPO, pattern))
)
HEAVY = ('torch', 'mmengine', 'mmpretrain', 'mmcv', 'numpy', 'matplotlib')

PROBE = """
import atexit, json, sys
def report():
    heavy = sorted({m.split('.')[0] for m in sys.modules} & set(HEAVY))
    sys.__stderr__.write('\\nPROBE ' + json.dumps(heavy) + '\\n')
atexit.register(report)
import runpy
sys.argv = [TOOL, *ARGS]
runpy.run_path(TOOL, run_name='__main__')
"""


def run_tool(tool: str, *args: str):
    code = f'HEAVY = {HEAVY!r}\nTOOL = {tool!r}\nARGS = {list(args)!r}\n' + PROBE
    env = dict(os.environ, PYTHONPATH=REPO)
    proc = subprocess.run(
        [sys.executable, '-c', code], capture_output=True, text=True, env=env, cwd=REPO, timeout=120
    )
    err, _, probe = proc.stderr.rpartition('\nPROBE ')
    return proc.returncode, proc.stdout, err.strip(), json.loads(probe)


def test_every_tool_is_listed():
    assert len(TOOLS) >= 11 and 'tools/train.py' in TOOLS and 'tools/ablate.py' in TOOLS


@pytest.mark.parametrize('tool', TOOLS)
def test_help_imports_nothing_heavy(tool):
    code, out, err, heavy = run_tool(tool, '--help')
    assert code == 0, err
    assert out.startswith('usage: ') and '--help' in out
    assert heavy == []


@pytest.mark.parametrize('tool', TOOLS)
def test_argument_error_imports_nothing_heavy(tool):
    code, out, err, heavy = run_tool(tool, '--no-such-option')
    assert code == 2
    assert err.startswith('error: ') and len(err.splitlines()) == 1, err
    assert heavy == []
