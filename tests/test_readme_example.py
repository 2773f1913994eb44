"""The README's "Add your own attention module" runs as written, and does what it says:
its bash blocks, in order, in a scratch checkout of their own (tests/test_readme.py leaves
this section's blocks to this test, ``OWN_TESTS``; the mmdet config the example writes is
built and trained by tests/integration/test_mmdet.py)."""

import json
import os

import pytest
from helpers import assert_clean, readme_blocks, run_readme_blocks, scratch_checkout

SECTION = 'Add your own attention module'
EXAMPLE = 'work_dirs/my_attention'


def test_the_section_has_its_blocks():
    blocks = readme_blocks(SECTION)
    assert any('class SpatialGate(AttentionModule)' in block for block in blocks)
    assert any('check_attention_module(' in block for block in blocks)
    assert any('tools/benchmark.py' in block for block in blocks)


@pytest.mark.slow
def test_the_example_runs_as_written(tmp_path):
    repo = scratch_checkout(tmp_path / 'se_plugin')
    commands = run_readme_blocks(readme_blocks(SECTION), repo)[-1]  # pytest, the tools
    assert_clean(repo, SECTION)
    assert '2 passed' in commands  # the kit, in each impl
    assert 'SEResNet-50 (SpatialGate)' in commands and 'AttentionInjected' in commands
    assert 'saved for backward' in commands
    with open(os.path.join(repo, EXAMPLE, 'benchmark.json'), encoding='utf-8') as f:
        report = json.load(f)
    results = {result['model']: result for result in report['results']}
    config = f'{EXAMPLE}/spatial_gate_resnet50_imagenet.py'
    plain = results[f'{config}:backbone.attn_cfg=None']['saved_mb']
    # exact accounting: recomputed, the gate keeps nothing beyond the attention-free network
    assert results[config]['saved_mb'] <= plain
    assert results[f"{config}:backbone.attn_cfg.impl='reference'"]['saved_mb'] > 1.1 * plain
