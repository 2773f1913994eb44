"""The README's "Add your own attention module" runs as written, and does what it says:
its command blocks, in order, in a fresh copy of the checkout (tests/test_readme.py leaves
the block that runs the tools to this test; the mmdet config the example writes is built
and trained by tests/integration/test_mmdet.py)."""

import json
import os

import pytest
from helpers import copy_checkout, readme_blocks, run_readme_blocks

SECTION = 'Add your own attention module'
EXAMPLE = 'work_dirs/my_attention'


def test_the_section_has_its_blocks():
    blocks = readme_blocks(SECTION)
    assert any('class SpatialGate(AttentionModule)' in block for block in blocks)
    assert any('check_attention_module(' in block for block in blocks)
    assert any('tools/benchmark.py' in block for block in blocks)


def _files(repo) -> set:
    """The files under ``repo`` outside work_dirs/ (and Python's byte-code caches)."""
    found = set()
    for folder, dirs, files in os.walk(repo):
        dirs[:] = [d for d in dirs if d not in ('work_dirs', '__pycache__')]
        found.update(os.path.relpath(os.path.join(folder, f), repo) for f in files)
    return found


@pytest.mark.slow
def test_the_example_runs_as_written(tmp_path):
    repo = copy_checkout(tmp_path / 'se_plugin')
    before = _files(repo)
    commands = run_readme_blocks(readme_blocks(SECTION), repo)[-1]  # pytest, the tools
    assert _files(repo) == before  # nothing written outside work_dirs/
    assert '2 passed' in commands  # the kit, in each impl
    assert 'SEResNet-50 (SpatialGate)' in commands and 'AttentionInjected' in commands
    assert 'saved for backward' in commands
    report = json.loads((tmp_path / 'se_plugin' / EXAMPLE / 'benchmark.json').read_text())
    results = {result['model']: result for result in report['results']}
    config = f'{EXAMPLE}/spatial_gate_resnet50_imagenet.py'
    plain = results[f'{config}:backbone.attn_cfg=None']['saved_mb']
    # exact accounting: recomputed, the gate keeps nothing beyond the attention-free network
    assert results[config]['saved_mb'] <= plain
    assert results[f"{config}:backbone.attn_cfg.impl='reference'"]['saved_mb'] > 1.1 * plain
