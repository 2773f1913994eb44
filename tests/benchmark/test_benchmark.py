"""se_plugin.benchmark and tools/benchmark.py (tiny models, so this stays fast)."""

import json
import os.path as osp
from functools import partial

import pytest
import torch
from helpers import run_script

from se_plugin.benchmark import (
    LogitsModel,
    Options,
    Result,
    available,
    build_model,
    markdown_table,
    parse_spec,
    run_benchmark,
    save_json,
    too_few_rounds,
)
from se_plugin.models import SELayer, SimAM

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(ROOT, 'tools', 'benchmark.py')
TINY = 'se_plugin.SEResNet:depth=18,base_channels=8,stem_channels=8,se_cfg.ratio=4'
TINY_OPTS = dict(batch_size=2, input_size=32, num_classes=10, warmup=1, repeats=3, threads=1)


def test_parse_spec():
    assert parse_spec('torchvision.resnet50') == ('torchvision.resnet50', {})
    assert parse_spec('se_plugin.SEResNet:depth=50,se_cfg.impl=reference,strides=(1,2,2,2)') == (
        'se_plugin.SEResNet',
        {'depth': 50, 'se_cfg': {'impl': 'reference'}, 'strides': (1, 2, 2, 2)},
    )
    assert parse_spec("configs/a.py:backbone.se_cfg.squeeze='max'") == (
        'configs/a.py',
        {'backbone': {'se_cfg': {'squeeze': 'max'}}},
    )
    with pytest.raises(ValueError, match='key=value'):
        parse_spec('se_plugin.SEResNet:50')


def test_build_model_specs(repo_root):
    tiny = build_model(TINY, num_classes=10)
    assert isinstance(tiny, LogitsModel)
    tiny.eval()
    assert tiny(torch.randn(1, 3, 32, 32)).shape == (1, 10)
    layers = [m for m in tiny.modules() if isinstance(m, SELayer)]
    # nested overrides keep the constructor's other se_cfg defaults
    assert layers and {(m.impl, m.squeeze) for m in layers} == {('fused', 'avg')}
    assert layers[0].squeeze_channels == 8  # se_cfg.ratio=4 on 32 channels, divisor 8
    ref = build_model(TINY + ',se_cfg.impl=reference', num_classes=10)
    assert {m.impl for m in ref.modules() if isinstance(m, SELayer)} == {'reference'}
    # se_cfg is SEResNet's argument, reached through SEResNeXt's **kwargs
    ref_x = build_model('se_plugin.SEResNeXt:depth=50,se_cfg.impl="reference"')
    layers = [m for m in ref_x.modules() if isinstance(m, SELayer)]
    assert len(layers) == 16 and {(m.impl, m.squeeze) for m in layers} == {('reference', 'avg')}
    # another type replaces the default se_cfg (SELayer's ratio is no SimAM argument)
    simam = build_model(TINY.replace('se_cfg.ratio=4', 'se_cfg.type="se_plugin.SimAM"'))
    assert sum(isinstance(m, SimAM) for m in simam.modules()) == 8  # one per block
    assert build_model('torchvision.resnet18', num_classes=10).fc.out_features == 10
    cfg_model = build_model(
        f'{repo_root}/configs/se_resnet50_imagenet.py:backbone.depth=18,head.in_channels=512'
    )
    cfg_model.eval()
    assert cfg_model(torch.randn(1, 3, 32, 32)).shape == (1, 1000)
    with pytest.raises(ValueError, match='unknown scope'):
        build_model('keras.ResNet50')
    with pytest.raises(ValueError, match='torchvision.models has no model'):
        build_model('torchvision.resnet5')
    with pytest.raises(FileNotFoundError):
        build_model('configs/nope.py')
    assert available('torchvision.resnet50') and available(TINY)


@pytest.mark.parametrize('channels_last', [False, True])
def test_run_benchmark_reports_ratios(channels_last, tmp_path):
    opts = Options(modes=('inference', 'train'), channels_last=channels_last, **TINY_OPTS)
    logged = []
    report = run_benchmark([TINY], baseline='torchvision.resnet18', opts=opts, log=logged.append)
    assert report['environment']['threads'] == 1 and logged
    results = report['results']
    assert [(r.model, r.mode) for r in results] == [
        ('torchvision.resnet18', 'inference'),
        (TINY, 'inference'),
        ('torchvision.resnet18', 'train'),
        (TINY, 'train'),
    ]
    for r in results:
        assert len(r.times_ms) == 3 and r.median_ms > 0 and r.ratio > 0
    assert results[0].ratio == results[0].paired_ratio == results[0].min_ratio == 1.0
    assert [r.saved_mb is None for r in results] == [True, True, False, False]
    assert all(r.saved_mb > 0.1 for r in results[2:])
    table = markdown_table(report)
    assert table.count('\n') == 1 + len(results)
    assert 'paired ratio' in table and 'min ratio' in table and 'saved for backward' in table
    save_json(report, str(tmp_path / 'out' / 'bench.json'))
    data = json.loads((tmp_path / 'out' / 'bench.json').read_text())
    assert data['options']['channels_last'] is channels_last
    assert data['results'][1]['model'] == TINY


def test_train_step_updates_parameters():
    from se_plugin.benchmark import make_step

    model = build_model(TINY, num_classes=10)
    before = [p.detach().clone() for p in model.parameters()]
    make_step(model, 'train', Options(**TINY_OPTS), torch.device('cpu'))()
    assert any(not torch.equal(a, p) for a, p in zip(before, model.parameters()))


run_tool = partial(run_script, TOOL)  # (monkeypatch, capsys, *args) -> (code, out, err)


def test_tool_writes_table_and_json(monkeypatch, capsys, tmp_path):
    out = tmp_path / 'bench.json'
    code, stdout, _ = run_tool(
        monkeypatch, capsys, TINY, '--baseline', 'torchvision.resnet18', '--batch', 2,
        '--size', 32, '--num-classes', 10, '--repeats', 2, '--warmup', 1, '--threads', 1,
        '--mode', 'train', '--out', out,
    )  # fmt: skip
    assert code == 0, stdout
    assert '1 thread(s)' in stdout and '| `torchvision.resnet18` | train |' in stdout
    assert json.loads(out.read_text())['baseline'] == 'torchvision.resnet18'


def test_tool_user_errors_exit_2(monkeypatch, capsys):
    code, _, err = run_tool(monkeypatch, capsys, 'nope.Model', '--mode', 'train')
    assert code == 2 and err.startswith('error: ') and 'unknown scope' in err
    code, _, err = run_tool(monkeypatch, capsys, TINY, '--threads', 0)
    assert code == 2 and 'threads: must be an int >= 1' in err


@pytest.mark.parametrize('channels_last', [False, True])
def test_saved_activations_fused_se_keeps_less_than_the_reference(channels_last):
    """The fused SE keeps nothing beyond what the plain block keeps; autograd's SE does."""
    from se_plugin.benchmark import saved_activation_bytes

    opts = Options(channels_last=channels_last, **TINY_OPTS)
    spec = 'se_plugin.SEResNet:depth=18'
    saved = {}
    for name, extra in [
        ('plain', ',se_cfg=None'),
        ('fused', ''),
        ('ref', ',se_cfg.impl="reference"'),
    ]:
        model = build_model(spec + extra, num_classes=10)
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
        saved[name] = saved_activation_bytes(model, opts, torch.device('cpu'))
    assert saved['plain'] > 0
    # the SE layers' own (N, C) vectors only: under 1% on top of the plain network
    assert saved['plain'] <= saved['fused'] < 1.01 * saved['plain']
    assert saved['ref'] > 1.1 * saved['plain']  # autograd keeps the SE input and more


@pytest.mark.parametrize(
    'args, match',
    [
        (['--batch', '0'], '--batch: must be an int >= 1, got 0'),
        (['--repeats', '0'], '--repeats: must be an int >= 1'),
        (['--warmup', '-1'], '--warmup: must be an int >= 0'),
        (['--size', 'x'], "invalid int value: 'x'"),
    ],
)
def test_tool_bad_sizes_are_one_line(monkeypatch, capsys, args, match):
    code, _, err = run_tool(monkeypatch, capsys, TINY, *args)
    assert code == 2 and len(err.strip().splitlines()) == 1 and match in err, err


def test_tool_out_that_cannot_be_written_is_refused_before_timing(monkeypatch, capsys, tmp_path):
    (tmp_path / 'file').write_text('')
    code, out, err = run_tool(monkeypatch, capsys, TINY, '--out', str(tmp_path / 'file' / 'r.json'))
    assert code == 2 and 'is a file, not a directory' in err and 'round' not in out
    code, _, err = run_tool(monkeypatch, capsys, TINY, '--out', str(tmp_path))
    assert code == 2 and 'is a directory' in err


def _result(name, times):
    return Result(name, 'train', 0, times_ms=list(times), paired_ratio=1.0)


def test_too_few_rounds_warnings():
    base = _result('base', [10.0] * 8)
    apart = [_result('a', [10.0] * 8), _result('b', [12.0] * 8)]
    close = [_result('a', [10, 11, 9, 10.5, 9.5, 10, 11, 9]), _result('b', [10.1] * 8)]
    assert too_few_rounds([base, *apart], 8) == []
    assert 'differ by' in too_few_rounds([base, *close], 8)[0]
    assert 'only 3 rounds' in too_few_rounds([base, *apart], 3)[0]


# ------------------------------------------------------------- attention zoo vs timm


def attention_commands() -> list:
    """The model specs of each tools/benchmark.py command in docs/attention.md's
    "## Commands" section, read with the tool's own parser."""
    import runpy
    import shlex

    with open(osp.join(ROOT, 'docs', 'attention.md'), encoding='utf-8') as f:
        text = f.read()
    section = text.split('\n## Commands\n', 1)[1].split('\n## ', 1)[0]
    lines = section.replace('\\\n', ' ').splitlines()
    parse_args = runpy.run_path(TOOL)['parse_args']
    argvs = [
        shlex.split(line)[2:] for line in lines if line.startswith('python tools/benchmark.py')
    ]
    return [parse_args(argv).models for argv in argvs]


def test_attention_commands_cover_every_module():
    from se_plugin.registry import MODELS

    ours = [models[0] for models in attention_commands()]
    types = [parse_spec(spec)[1]['se_cfg']['type'] for spec in ours]
    zoo = ['ECALayer', 'EffectiveSELayer', 'CBAM', 'GlobalContext', 'CoordAttention']
    zoo += ['GatherExcite', 'SimAM', 'SRMLayer']
    assert types == [f'se_plugin.{name}' for name in zoo]
    assert all(MODELS.get(t) is not None for t in types)


def _attention_id(models: list) -> str:
    return parse_spec(models[0])[1]['se_cfg']['type'].split('.')[-1]


@pytest.mark.parametrize('models', attention_commands(), ids=_attention_id)
def test_attention_specs_build_beside_timm(models):
    """Each command's specs build, at depth 18 here (same specs, ``depth=50`` ->
    ``depth=18``, ``timm.resnet50`` -> ``timm.resnet18``): ours has the module in all 8
    blocks, timm's the module it names, and where the docs pair them (all but CoordAtt,
    whose widths a spec cannot match), the same parameter count."""
    from se_plugin.registry import MODELS

    small = [m.replace('depth=50', 'depth=18').replace('timm.resnet50', 'timm.resnet18')
             for m in models]  # fmt: skip
    ours = build_model(small[0], num_classes=10)
    cls = MODELS.get(parse_spec(small[0])[1]['se_cfg']['type'])
    assert sum(type(m) is cls for m in ours.modules()) == 8
    ours.eval()
    assert ours(torch.randn(1, 3, 32, 32)).shape == (1, 10)
    if len(small) == 1:  # no timm peer
        return
    timm = pytest.importorskip('timm')
    peer = build_model(small[1], num_classes=10)
    timm_cls = timm.layers.get_attn(parse_spec(small[1])[1]['block_args']['attn_layer'])
    timm_cls = getattr(timm_cls, 'func', timm_cls)  # 'gca' is a partial of GlobalContext
    assert sum(type(m) is timm_cls for m in peer.modules()) == 8
    if cls.__name__ != 'CoordAttention':
        assert sum(p.numel() for p in ours.parameters()) == sum(
            p.numel() for p in peer.parameters()
        )
