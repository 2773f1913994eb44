"""What ``import se_plugin`` changes outside se_plugin, and the opt-out.

Each case runs in a fresh interpreter, records mmengine's local checkpoint
loader, torch's safe globals and the warnings filters before and after the
import, and prints the difference as JSON.
"""

import inspect
import json
import os
import subprocess
import sys
import textwrap

import pytest

from se_plugin.runtime.allow_list import safe_globals
from se_plugin.runtime.install import MMCV_LITE_WARNING, OPT_OUT_ENV

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def global_name(entry) -> str:
    """A safe-globals entry by name (the probe uses this same function)."""
    obj, alias = entry if isinstance(entry, tuple) else (entry, None)
    name = f'{getattr(obj, "__module__", "?")}.{getattr(obj, "__qualname__", obj)}'
    return f'{name} as {alias}' if alias else name


PROBE = inspect.getsource(global_name) + textwrap.dedent(
    """
    import json, sys, warnings
    import torch
    from mmengine.runner.checkpoint import CheckpointLoader

    def state():
        loader = CheckpointLoader._schemes['']
        return dict(
            loader=f'{loader.__module__}.{loader.__qualname__}',
            safe=sorted(map(global_name, torch.serialization.get_safe_globals())),
            filters=[(f[0], f[1].pattern if f[1] else None) for f in warnings.filters],
        )

    before = state()
    import se_plugin
    after_import = state()
    {after}
    after = state()
    print(json.dumps(dict(
        loader=[before['loader'], after_import['loader'], after['loader']],
        # torch adds its own (torch._dynamo's) when mmengine first imports it
        added_safe=[
            sorted(n for n in set(s['safe']) - set(before['safe']) if not n.startswith('torch.'))
            for s in (after_import, after)
        ],
        added_filters=[
            [f for f in s['filters'] if f not in before['filters']] for s in (after_import, after)
        ],
        registered='SEResNet' in dir(se_plugin),
    )))
    """
)


def probe(env_value, after=''):
    env = {k: v for k, v in os.environ.items() if k != OPT_OUT_ENV}
    if env_value is not None:
        env[OPT_OUT_ENV] = env_value
    env['PYTHONPATH'] = REPO + os.pathsep + env.get('PYTHONPATH', '')
    proc = subprocess.run(
        [sys.executable, '-c', PROBE.replace('{after}', after)],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
    )
    return proc


OURS = 'se_plugin.runtime.checkpoint._load_from_local'
MMENGINE = 'mmengine.runner.checkpoint.load_from_local'


def _allow_list_names():
    return sorted({global_name(e) for e in safe_globals()})


@pytest.mark.parametrize('env_value', [None, '0'])
def test_import_installs_loader_safe_globals_and_one_filter(env_value):
    proc = probe(env_value)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out['loader'][:2] == [MMENGINE, OURS]
    assert out['added_safe'][0] == _allow_list_names()
    assert out['added_filters'][0] == [['ignore', MMCV_LITE_WARNING]]
    assert 'MultiScaleDeformableAttention' not in proc.stderr
    assert out['registered']


def test_opt_out_changes_nothing_until_install_is_called():
    proc = probe('1', after='se_plugin.runtime.install()')
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out['registered']
    # the import itself: loader, safe globals and filters untouched
    assert out['loader'][:2] == [MMENGINE, MMENGINE]
    assert out['added_safe'][0] == [] and out['added_filters'][0] == []
    # the explicit call: exactly what the import does by default
    assert out['loader'][2] == OURS
    assert out['added_safe'][1] == _allow_list_names()
    assert out['added_filters'][1] == [['ignore', MMCV_LITE_WARNING]]


def test_tools_install_even_with_the_opt_out():
    after = textwrap.dedent(
        """
        from se_plugin.cli import run_cli
        try:
            run_cli(lambda: 0)
        except SystemExit:
            pass
        """
    )
    out = json.loads(probe('1', after=after).stdout)
    assert out['loader'][2] == OURS and out['added_safe'][1] == _allow_list_names()


@pytest.mark.parametrize('value', ['yes', '2'])
def test_bad_opt_out_value_is_one_line(value):
    proc = probe(value)
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"ValueError: {OPT_OUT_ENV}='{value}': use 1 ")


HEAVY = ('torch', 'mmengine', 'mmpretrain', 'mmcv', 'numpy')

LATE = textwrap.dedent(
    """
    import json, sys
    import se_plugin
    light = sorted({m.split('.')[0] for m in sys.modules} & set(HEAVY))
    for name in IMPORTS:
        __import__(name)
    import torch
    from mmengine.runner.checkpoint import CheckpointLoader
    loader = CheckpointLoader._schemes['']
    safe = {getattr(e[0] if isinstance(e, tuple) else e, '__qualname__', '')
            for e in torch.serialization.get_safe_globals()}
    print(json.dumps(dict(
        light=light,
        loader=f'{loader.__module__}.{loader.__qualname__}',
        history_buffer='HistoryBuffer' in safe and 'history_buffer_getattr' in safe,
        watching=[type(f).__name__ for f in sys.meta_path if 'se_plugin' in type(f).__module__],
    )))
    """
)


@pytest.mark.parametrize(
    'imports',
    [
        ['torch'],  # torch alone, then mmengine's checkpoint module
        ['mmengine.runner'],  # torch imported from inside mmengine
        ['mmpretrain.models'],
        # our own modules, whose imports run the hooks while they are imported
        ['se_plugin.runtime.allow_list', 'se_plugin.runtime.checkpoint'],
    ],
    ids=lambda imports: '+'.join(imports),
)
def test_import_is_light_and_installs_when_torch_and_mmengine_are_imported(imports):
    """``import se_plugin`` imports no torch; each step is installed with its module."""
    code = f'HEAVY = {HEAVY!r}\nIMPORTS = {imports!r}\n' + LATE
    env = {k: v for k, v in os.environ.items() if k != OPT_OUT_ENV}
    env['PYTHONPATH'] = REPO + os.pathsep + env.get('PYTHONPATH', '')
    proc = subprocess.run(
        [sys.executable, '-c', code], capture_output=True, text=True, env=env, cwd=REPO
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out['light'] == []
    assert out['loader'] == OURS
    assert out['history_buffer']
    assert out['watching'] == []  # the import hook is gone once both steps are done


def test_torch_load_after_a_light_import_accepts_mmengine_checkpoints(tmp_path):
    """``import se_plugin`` then a plain ``torch.load``, mmengine never imported by the user."""
    import torch
    from mmengine.logging import MessageHub

    hub = MessageHub.get_instance('se_plugin_test_install')
    hub.update_scalar('train/loss', 0.5)
    path = tmp_path / 'epoch_1.pth'
    torch.save({'message_hub': hub.state_dict()}, path)
    code = f'import se_plugin, torch\nprint(type(torch.load({str(path)!r})["message_hub"]))'
    env = {k: v for k, v in os.environ.items() if k != OPT_OUT_ENV}
    env['PYTHONPATH'] = REPO + os.pathsep + env.get('PYTHONPATH', '')
    proc = subprocess.run(
        [sys.executable, '-c', code], capture_output=True, text=True, env=env, cwd=REPO
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "<class 'dict'>"
