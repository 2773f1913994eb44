"""The README's and the docs' code blocks run as written.

* The README's Python snippets run in this process, and its config snippets are the
  shipped files.
* Every bash block of README.md and docs/*.md runs as written in a scratch copy of the
  checkout (a git repository of its own), after the README's two set-up commands (the
  quick start runs there once), in a fresh shell that entered the pinned environment
  (``source tools/activate.sh``). It must exit 0, leave ``git status`` clean and write
  nothing outside ``work_dirs/`` (and pip's build folders). A block that is not listed
  below runs in the slow group, so blocks added later are run too.
* ``LISTED`` names the other blocks by a piece of their text: ``fast`` ones run in the
  default group (without the quick start), ``long`` ones (sweeps and benchmark tables:
  tens of minutes to hours) only with ``SE_PLUGIN_DOCS_LONG=1``, and the ones that
  cannot run here say why, and, where running them as written stops at once, with which
  one-line error and exit code. The sweeps of long blocks are still planned in the slow
  group (``tools/ablate.py --dry-run`` builds every point's model).
* ``OWN_TESTS`` names README sections whose blocks build on each other (the first ones
  write files that the last one runs): the test file it names runs them, in order, and
  checks what they print and write; they run there only.
"""

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pytest
from helpers import Block, assert_clean, bash_blocks, run_in_fresh_shell, scratch_checkout

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


# ------------------------------------------------------------------ the bash blocks


@dataclass(frozen=True)
class Listed:
    """How a listed block is checked.

    Args:
        group (str): ``'fast'`` (default group, no quick start), ``'slow'`` (after the quick
            start), ``'long'`` (slow, and only with SE_PLUGIN_DOCS_LONG=1), ``'not-run'``
            (cannot run here, nor stop at once), ``'set-up'`` (the README's set-up
            commands, run by the fixtures and by CI) or ``'own-test'`` (a block of an
            ``OWN_TESTS`` section).
        why (str): Why it cannot run here, takes long, or which test runs it. Default: ''.
        fails_with (tuple, optional): ``(exit code, text)``: the block cannot work here, and
            run as written it must stop with that code and a last ``error:`` line holding
            the text. Default: None.
        prelude (str): Commands before the block, for blocks that assume a shell state the
            README describes around them. Default: ''.
    """

    group: str
    why: str = ''
    fails_with: Optional[tuple] = None
    prelude: str = ''


NO_IMAGENET = 'needs ImageNet under data/imagenet (and 8 GPUs for the recipe)'
DOWNLOAD = 'needs pretrained weights downloaded by the user (no downloads here)'
LONG = 'tens of minutes to hours of training or benchmarking on 2 cores'
LISTED = {
    ('README.md', 'bash tools/run_tests.sh'): Listed(
        'set-up', 'the set-up commands: the quick start runs in the scratch copy first; '
        'tools/run_tests.sh is what runs these tests (.ci/run)'
    ),
    ('README.md', 'configs/se_resnet50_imagenet.py --work-dir'): Listed(
        'fast', NO_IMAGENET, fails_with=(2, "data_root is 'data/imagenet', which does not exist")
    ),
    ('README.md', 'pip install -e .'): Listed(
        'slow', prelude='source tools/activate_mim.sh  # your own environment: a virtualenv '
        'over the pinned packages'
    ),
    ('README.md', '--work-dir work_dirs/ablate_ratio'): Listed('long', LONG + ': 45 runs'),
    ('README.md', 'bash tools/dist_train.sh CONFIG 8'): Listed(
        'fast', '8 GPUs, 2 machines or a Slurm cluster, as placeholders',
        fails_with=(2, 'config file not found: CONFIG'),
    ),
    ('README.md', 'mmpretrain.SEResNet:depth=50 timm.seresnet50 \\'): Listed('long', LONG),
    ('README.md', '--arch skresnet18.ra_in1k'): Listed('fast'),
    ('docs/ablation.md', '--work-dir work_dirs/ablate_no_se\n'): Listed(
        'long', LONG + ': 18 runs, ~31 min'
    ),
    ('docs/ablation.md', 'work_dirs/ablate_ratio/ratio-4/seed0'): Listed(
        'long', 'reads a checkpoint of the sweep above'
    ),
    ('docs/attention.md', 'MODELS="se_plugin.SEResNet:depth=50 \\'): Listed('long', LONG),
    ('docs/attention.md', 'memory_fp32.json'): Listed('long', LONG + ': 18 models'),
    ('docs/attention.md', '--work-dir work_dirs/ablate_attention'): Listed('long', LONG),
    ('docs/attention.md', 'eca_fp32.json'): Listed('long', LONG),
    ('docs/attention.md', '--work-dir work_dirs/attention/none'): Listed('long', LONG),
    ('docs/benchmark.md', 'r50_fp32.json'): Listed('long', LONG),
    ('docs/benchmark.md', 'r50_amp_channels_last.json'): Listed('long', LONG),
    ('docs/benchmark.md', 'sk_fp32.json'): Listed('long', LONG),
    ('docs/mmdet_mmseg.md', 'source tools/setup_integration_env.sh'): Listed(
        'set-up', 'tools/run_tests.sh runs tools/run_integration_tests.sh after these tests'
    ),
    ('docs/mmdet_mmseg.md', 'bash tools/run_tests.sh'): Listed(
        'set-up', 'the test commands themselves (.ci/run)'
    ),
    ('docs/model_table.md', '--out docs/model_table.md'): Listed(
        'long', 'regenerates this page from 82 full-size models (tens of minutes); '
        'tests/analysis/test_metafile.py checks the same counts'
    ),
    ('docs/pretrained.md', 'python tools/convert.py --list'): Listed('fast'),
    ('docs/pretrained.md', 'huggingface-cli download'): Listed('not-run', DOWNLOAD),
    ('docs/pretrained.md', 'wget -P checkpoints'): Listed('not-run', DOWNLOAD),
    ('docs/pretrained.md', '# another converted file:'): Listed(
        'fast', DOWNLOAD,
        fails_with=(2, 'checkpoint not found: checkpoints/se_resnet50_converted.pth'),
    ),
    ('docs/pretrained.md', '# evaluate the converted ImageNet weights'): Listed(
        'fast', NO_IMAGENET + ', and ' + DOWNLOAD,
        fails_with=(2, 'checkpoint not found: checkpoints/se_resnet50_converted.pth'),
    ),
}  # fmt: skip
# README sections whose blocks build on each other: the test file named runs them all, in
# order, in a scratch checkout of its own, and checks what they print and write
OWN_TESTS = {
    ('README.md', 'Add your own attention module'): 'tests/test_readme_example.py',
}
BLOCKS = bash_blocks()


def listing(block: Block) -> Listed:
    found = [v for (path, text), v in LISTED.items() if path == block.path and text in block.text]
    own_test = OWN_TESTS.get((block.path, block.section))
    if own_test:
        found.append(Listed('own-test', own_test))
    assert len(found) <= 1, f'{block.id} matches {len(found)} LISTED and OWN_TESTS entries'
    return found[0] if found else Listed('slow')


def test_every_listed_entry_names_one_block():
    for path, text in LISTED:
        hits = [b.id for b in BLOCKS if b.path == path and text in b.text]
        assert len(hits) == 1, f'LISTED ({path!r}, {text!r}) matches {hits}'


@pytest.mark.parametrize(
    'section, test', [pytest.param(s, t, id=s[1]) for s, t in OWN_TESTS.items()]
)
def test_every_own_test_section_is_run_by_its_test(section, test):
    assert any((b.path, b.section) == section for b in BLOCKS), f'no bash block under {section}'
    assert repr(section[1]) in (ROOT / test).read_text(), f'{test} does not run {section}'


def test_the_set_up_blocks_are_the_readme_commands():
    first = next(b for b in BLOCKS if b.path == 'README.md')
    assert listing(first).group == 'set-up'
    assert [line.split('#')[0].strip() for line in first.text.splitlines()] == [
        'bash tools/quickstart.sh',
        'bash tools/run_tests.sh',
    ]


def _params():
    params = []
    for block in BLOCKS:
        entry = listing(block)
        if entry.group in ('set-up', 'not-run', 'own-test'):
            continue  # LISTED says why
        marks = [pytest.mark.timeout(600 if entry.group == 'fast' else 4 * 3600)]
        if entry.group != 'fast':
            marks.append(pytest.mark.slow)
        if entry.group == 'long':
            marks.append(pytest.mark.skipif(
                not os.environ.get('SE_PLUGIN_DOCS_LONG'),
                reason=f'{entry.why}: SE_PLUGIN_DOCS_LONG=1 runs it',
            ))  # fmt: skip
        params.append(pytest.param(block, entry, marks=marks, id=block.id))
    return params


def _remove_mim_environments(repo):
    """The mim environments that ``tools/activate_mim.sh`` built for the scratch copy."""
    cache = Path(os.environ.get('SE_PLUGIN_CACHE', Path.home() / '.cache' / 'se_plugin'))
    for env in cache.glob('venv-mim-*'):
        owner = env / '.checkout'
        checkout = owner.read_text().strip() if owner.is_file() else ''
        if checkout and os.path.exists(checkout) and os.path.samefile(checkout, repo):
            shutil.rmtree(env, ignore_errors=True)
            (cache / f'.lock-mim-{env.name[len("venv-mim-") :]}').unlink(missing_ok=True)


@pytest.fixture(scope='module')
def scratch(tmp_path_factory):
    """A fresh clone of the checkout (with the working tree's changes), git-committed."""
    repo = scratch_checkout(tmp_path_factory.mktemp('readme') / 'se_plugin')
    yield repo
    _remove_mim_environments(repo)


@pytest.fixture(scope='module')
def quickstarted(scratch):
    """The scratch copy after the README's first set-up command."""
    proc = run_in_fresh_shell(scratch, 'bash tools/quickstart.sh')
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return scratch


def planned(block: Block) -> Optional[str]:
    """The block with each ``tools/ablate.py`` sweep only planned (``--dry-run``; without
    ``--baseline``, whose sweep did not run), or None when it runs anything else."""
    lines = []
    for line in re.sub(r'\\\n\s*', ' ', block.text).splitlines():
        command = line.split('#')[0].rstrip()
        if command.strip().startswith('python tools/ablate.py'):
            line = re.sub(r'\s--baseline\s+\S+', '', command) + ' --dry-run'
        elif command.strip() and not re.match(r'(for |do$|done$)', command.strip()):
            return None
        lines.append(line)
    return '\n'.join(lines)


LONG_SWEEPS = [
    pytest.param(b, marks=pytest.mark.slow, id=b.id)
    for b in BLOCKS
    if listing(b).group == 'long' and planned(b)
]


@pytest.mark.parametrize('block', LONG_SWEEPS)
def test_long_sweep_blocks_plan(block, scratch):
    proc = run_in_fresh_shell(
        scratch, f'source tools/activate.sh 2>/dev/null\n{planned(block)}', timeout=1800
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert_clean(scratch, block.id)


@pytest.mark.parametrize('block, entry', _params())
def test_command_block_runs_as_written(block, entry, request):
    repo = request.getfixturevalue('scratch' if entry.group == 'fast' else 'quickstarted')
    script = f'source tools/activate.sh 2>/dev/null\n{entry.prelude}\n{block.text}'
    proc = run_in_fresh_shell(repo, script)
    output = proc.stdout[-3000:] + proc.stderr[-3000:]
    if entry.fails_with:
        code, text = entry.fails_with
        last = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else ''
        assert proc.returncode == code, output
        assert last.startswith('error: ') and text in last, output
    else:
        assert proc.returncode == 0, output
    assert_clean(repo, block.id)
