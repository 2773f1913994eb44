"""The README's Python snippets run as written, and .ci/run is its test command."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / 'README.md').read_text()
SNIPPETS = re.findall(r'```python\n(.*?)```', README, flags=re.S)


@pytest.mark.parametrize('index', range(len(SNIPPETS)))
def test_python_snippet_runs(index):
    exec(compile(SNIPPETS[index], f'README.md:python[{index}]', 'exec'), {})


def test_ci_runs_the_readme_test_command():
    command = 'bash tools/run_tests.sh'
    assert re.search(rf'^{re.escape(command)}\b', README, flags=re.M)
    ci = [
        line.strip()
        for line in (ROOT / '.ci/run').read_text().splitlines()
        if line.strip() and not line.lstrip().startswith(('#', 'set ', 'cd '))
    ]
    assert ci == [command]
