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


CONFIG_SNIPPETS = [s for s in SNIPPETS if re.match(r'# (configs/\S+\.py)\n', s)]


@pytest.mark.parametrize('snippet', CONFIG_SNIPPETS, ids=lambda s: s.split('\n', 1)[0][2:])
def test_config_snippets_are_the_shipped_files(snippet):
    """Config snippets are verbatim copies of files the integration tests build."""
    header, body = snippet.split('\n', 1)
    text = (ROOT / header[2:]).read_text()
    assert snippet.strip() == text.strip() or body.strip() == text.strip()


def test_readme_has_config_snippets():
    assert len(CONFIG_SNIPPETS) >= 2
