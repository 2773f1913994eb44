"""tools/activate_mim.sh: this checkout's mim environment over the pinned packages."""

import os
import subprocess
from pathlib import Path

from helpers import ROOT, fresh_shell_env

SCRIPT = """
source tools/activate_mim.sh 2>/dev/null
command -v python pip mim
echo "PYTHONPATH=${PYTHONPATH-}"
python -c 'import sys, mmengine; print(sys.prefix)'
"""


def test_enters_its_own_environment_and_prunes_deleted_checkouts(tmp_path):
    cache = Path(os.environ.get('SE_PLUGIN_CACHE', Path.home() / '.cache' / 'se_plugin'))
    stale = cache / f'venv-mim-test-{os.getpid()}'  # a deleted checkout's environment
    stale.mkdir(parents=True)
    (stale / '.checkout').write_text(str(tmp_path / 'deleted'))
    (stale / '.complete').touch()
    proc = subprocess.run(
        ['bash', '-c', f'set -eo pipefail\n{SCRIPT}'],
        cwd=ROOT, env=fresh_shell_env(), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    python, pip, mim, pythonpath, prefix = proc.stdout.split()
    venv = Path(prefix)
    assert venv.parent == cache and venv.name.startswith('venv-mim-')
    assert [python, pip, mim] == [str(venv / 'bin' / n) for n in ('python', 'pip', 'mim')]
    assert pythonpath == 'PYTHONPATH='  # mim must find the installed se_plugin, no checkout
    assert os.path.samefile((venv / '.checkout').read_text().strip(), ROOT)
    assert not stale.exists()
