"""se_plugin.analysis.ablation and tools/ablate.py: specs, checks, a real tiny sweep, resume."""

import csv
import json
import os
import os.path as osp
from functools import partial

import pytest
from helpers import run_script
from mmengine.config import Config

from se_plugin.analysis.ablation import (
    Plan,
    Point,
    Run,
    SweepError,
    decode,
    encode,
    grid,
    markdown,
    parse_progress,
    parse_sweep,
    parse_sweeps,
    parse_value,
    plot_results,
    read_baseline,
    shorten_schedule,
    slug,
    split_values,
)

from .conftest import QUICKSTART, ROOT, TINY_OPTIONS, plan_tiny, run_plan

TOOL = osp.join(ROOT, 'tools', 'ablate.py')


# ------------------------------------------------------------------ spec parsing


@pytest.mark.parametrize(
    'spec, key, values',
    [
        (
            'model.backbone.se_cfg.ratio=2,4,8,16,32',
            'model.backbone.se_cfg.ratio',
            (2, 4, 8, 16, 32),
        ),
        (
            'model.backbone.se_position=standard,post',
            'model.backbone.se_position',
            ('standard', 'post'),
        ),
        (
            'model.backbone.se_stages=(False,True,True,True),(True,True,True,True)',
            'model.backbone.se_stages',
            ((False, True, True, True), (True, True, True, True)),
        ),
        ('optim_wrapper.optimizer.lr=0.1,1e-2', 'optim_wrapper.optimizer.lr', (0.1, 0.01)),
        ('model.backbone.se_cfg=None', 'model.backbone.se_cfg', (None,)),
        ('a.b=[1,2],[3]', 'a.b', ([1, 2], [3])),
        ('a.b=\'None\',"x,y"', 'a.b', ('None', 'x,y')),
        ('train_cfg.max_epochs=3', 'train_cfg.max_epochs', (3,)),
    ],
)
def test_parse_sweep(spec, key, values):
    axis = parse_sweep(spec)
    assert axis.key == key
    assert axis.values == values
    assert [type(v) for v in axis.values] == [type(v) for v in values]


@pytest.mark.parametrize(
    'spec, needle',
    [
        ('model.backbone.se_cfg.ratio', 'expected KEY=V1,V2'),
        ('model.backbone.se_cfg.ratio=', 'no values'),
        ('model.backbone.se_cfg.ratio=  ', 'no values'),
        ('model.backbone.se_cfg.ratio=2,,4', 'empty value'),
        ('model.backbone.se_cfg.ratio=2,', 'empty value'),
        ('=2,4', 'not a dotted config key'),
        ('model..ratio=2', 'not a dotted config key'),
        ('model.backbone.se_stages=(True,False', 'unclosed'),
        ('model.backbone.se_stages=True,False)', 'unbalanced'),
        ("a.b='x", 'unclosed quote'),
    ],
)
def test_parse_sweep_errors(spec, needle):
    with pytest.raises(SweepError, match=needle):
        parse_sweep(spec)


def test_split_and_values():
    assert split_values('(1,(2,3)),[4,5],6') == ['(1,(2,3))', '[4,5]', '6']
    assert parse_value(' 16 ') == 16
    assert parse_value('True') is True
    assert parse_value('avgmax') == 'avgmax'


def test_axes_labels_and_overlaps():
    axes = parse_sweeps(['model.backbone.se_cfg.ratio=2', 'model.head.ratio=1'])
    assert [a.label for a in axes] == ['se_cfg.ratio', 'head.ratio']
    axes = parse_sweeps(['model.backbone.se_cfg.ratio=2', 'model.backbone.se_position=post'])
    assert [a.label for a in axes] == ['ratio', 'se_position']
    with pytest.raises(SweepError, match='overlaps'):
        parse_sweeps(['model.backbone.se_cfg.ratio=2', 'model.backbone.se_cfg.ratio=4'])
    with pytest.raises(SweepError, match='overlaps'):
        parse_sweeps(['model.backbone.se_cfg=None', 'model.backbone.se_cfg.ratio=4'])


def test_grid_names():
    points = grid(parse_sweeps(['m.ratio=2,4', 'm.se_stages=(False,True),(True,True)']))
    assert [p.name for p in points] == [
        'ratio-2_se_stages-False-True',
        'ratio-2_se_stages-True-True',
        'ratio-4_se_stages-False-True',
        'ratio-4_se_stages-True-True',
    ]
    assert points[1].options == {'m.ratio': 2, 'm.se_stages': (True, True)}
    assert [p.name for p in grid([])] == ['base']
    with pytest.raises(SweepError, match='given twice'):
        grid(parse_sweeps(['m.ratio=2,2']))
    with pytest.raises(SweepError, match="give the same point name 'a-b'"):
        grid(parse_sweeps(['m.x=a/b,a-b']))
    assert slug('a/b c') == 'a-b-c' and slug(()) == 'empty'


def test_encode_roundtrip():
    value = {'k': [(False, True), {'x': (1.5, None)}], 'inf': float('inf')}
    assert decode(json.loads(json.dumps(encode(value)))) == value


def test_shorten_schedule():
    schedule = [
        dict(type='LinearLR', by_epoch=True, begin=0, end=1, convert_to_iter_based=True),
        dict(type='CosineAnnealingLR', by_epoch=True, begin=1, end=5, eta_min=0.0),
        dict(type='ConstantLR', by_epoch=False, begin=0, end=50),
    ]
    cfg = Config(dict(param_scheduler=schedule, train_cfg=dict(by_epoch=True, max_epochs=5)))
    options = shorten_schedule(cfg, 2)
    assert options['train_cfg.max_epochs'] == 2
    assert [(s['type'], s['begin'], s['end']) for s in options['param_scheduler']] == [
        ('LinearLR', 0, 1),
        ('CosineAnnealingLR', 1, 2),  # still anneals to the (new) end
        ('ConstantLR', 0, 50),  # iteration-based: untouched
    ]
    assert [s['type'] for s in shorten_schedule(cfg, 1)['param_scheduler']] == [
        'LinearLR',
        'ConstantLR',
    ]
    assert shorten_schedule(cfg, 8) == {'train_cfg.max_epochs': 8}
    cfg.param_scheduler = dict(type='CosineAnnealingLR', begin=0, end=5, T_max=5)
    assert shorten_schedule(cfg, 3)['param_scheduler'] == [
        dict(type='CosineAnnealingLR', begin=0, end=3, T_max=3)
    ]
    cfg.param_scheduler = dict(type='MultiStepLR', by_epoch=True, milestones=[2, 4])
    assert 'param_scheduler' not in shorten_schedule(cfg, 3)  # no end: untouched
    quickstart = Config.fromfile(QUICKSTART)
    assert shorten_schedule(quickstart, 1)['train_cfg.max_epochs'] == 1
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=100)
    with pytest.raises(SweepError, match='trains by iterations'):
        shorten_schedule(cfg, 2)
    with pytest.raises(SweepError, match='int >= 1'):
        shorten_schedule(cfg, 0)


def test_parse_progress():
    line = '11/23 - mmengine - INFO - Epoch(train) [1][ 20/63]  lr: 1e-2  loss: 2.2966'
    fraction, text = parse_progress(line, ('epoch', 2))
    assert text == 'epoch 1/2 [20/63] loss 2.2966'
    assert 0.15 < fraction < 0.16
    assert parse_progress('Iter(train) [ 50/100]  loss: 1.0', ('iter', 100))[0] == 0.485
    assert parse_progress('Epoch(test) [2/4]', ('epoch', 2))[1] == 'test [2/4]'
    assert parse_progress('nothing here', ('epoch', 2)) is None


def _fake_plan(tmp_path, seeds=(0, 1)):
    axes = parse_sweeps(['m.ratio=2,4', 'm.pos=a,b'])
    points = grid(axes)
    runs = [Run(p, s, str(tmp_path / p.name / f'seed{s}'), {}) for p in points for s in seeds]
    complexity = {p.name: (1000 + i, 2_000_000 + i) for i, p in enumerate(points)}
    return Plan('cfg.py', str(tmp_path), axes, points, seeds, {}, runs, complexity, [], {})


def test_aggregate_markdown_and_plot(tmp_path):
    from se_plugin.analysis.ablation import aggregate

    plan = _fake_plan(tmp_path)
    results = {
        r.label: {
            'metrics': {'accuracy/top1': 90.0 + r.seed + i // 2},
            'train_s': 10.0,
            'test_s': 2.0,
        }
        for i, r in enumerate(plan.runs)
    }
    rows = aggregate(plan, results, 'accuracy/top1')
    assert [r['point'] for r in rows] == [p.name for p in plan.points]
    assert rows[0]['mean'] == pytest.approx(90.5) and rows[0]['std'] == pytest.approx(0.7071, 1e-3)
    text = markdown(plan, rows, 'accuracy/top1', command='python tools/ablate.py x')
    assert '| ratio-2_pos-a | 2 | a | 90.50 ± 0.71 | 2 |' in text
    assert text.startswith('Generated by:')
    path = tmp_path / 'plot.png'
    plot_results(plan, rows, 'accuracy/top1', str(path))
    assert path.read_bytes()[:4] == b'\x89PNG'

    # a one-point sweep as the baseline: a row under the table and a line in the plot
    base = tmp_path / 'base'
    base.mkdir()
    (base / 'sweep.json').write_text(json.dumps({'config': 'configs/no_se.py'}))
    (base / 'results.csv').write_text(
        'point,seeds,accuracy/top1 mean,accuracy/top1 std,params,flops,time_s\n'
        'base,2,89.5000,0.2500,900,2000000,10.0\n'
    )
    baseline = read_baseline(str(base), 'accuracy/top1')
    assert baseline == {
        'dir': str(base), 'config': 'configs/no_se.py', 'n': 2, 'mean': 89.5, 'std': 0.25
    }  # fmt: skip
    text = markdown(plan, rows, 'accuracy/top1', baseline=baseline)
    assert text.endswith('Baseline `configs/no_se.py` (2 seed(s), from `' + str(base) + '`): '
                         'accuracy/top1 89.50 ± 0.25.\n')  # fmt: skip
    plot_results(plan, rows, 'accuracy/top1', str(path), baseline)
    with pytest.raises(FileNotFoundError, match='no finished sweep'):
        read_baseline(str(tmp_path))
    with pytest.raises(SweepError, match='no such metric'):
        aggregate(plan, results, 'accuracy/top5')


# --------------------------------------------------------------- up-front checks


def test_plan_checks(tmp_path):
    with pytest.raises(SweepError, match="--sweep modle.backbone.x: the config has no 'modle'"):
        plan_tiny(tmp_path, sweeps=['modle.backbone.x=1,2'])
    with pytest.raises(SweepError, match="unexpected keyword argument 'ratoi'"):
        plan_tiny(tmp_path, sweeps=['model.backbone.se_cfg.ratoi=2,4'])
    with pytest.raises(SweepError, match=r'point ratio-0 \(model.backbone.se_cfg.ratio=0\)'):
        plan_tiny(tmp_path, sweeps=['model.backbone.se_cfg.ratio=0,4'])
    with pytest.raises(SweepError, match='overlaps --max-epochs train_cfg.max_epochs'):
        plan_tiny(tmp_path, sweeps=['train_cfg.max_epochs=1,2'])
    with pytest.raises(SweepError, match='seed is given twice'):
        plan_tiny(tmp_path, seeds=[0, 0])


def test_plan_layout(tmp_path):
    plan = plan_tiny(tmp_path / 'w', seeds=[0, 3])
    assert [r.label for r in plan.runs] == [
        'ratio-2/seed0',
        'ratio-2/seed3',
        'ratio-8/seed0',
        'ratio-8/seed3',
    ]
    assert plan.runs[1].work_dir == str(tmp_path / 'w' / 'ratio-2' / 'seed3')
    spec = plan.runs[0].spec
    assert spec['seed'] == 0 and spec['validate'] is False
    options = decode(spec['options'])
    assert options['model.backbone.se_cfg.ratio'] == 2
    assert options['train_cfg.max_epochs'] == 2
    params = {name: c[0] for name, c in plan.complexity.items()}
    assert params['ratio-2'] > params['ratio-8']
    assert not osp.exists(tmp_path / 'w')  # planning writes nothing


run_tool = partial(run_script, TOOL)  # (monkeypatch, capsys, *args) -> (code, out, err)


@pytest.mark.parametrize(
    'sweep, needle',
    [
        ('model.backbone.se_cfg.ratio=', '--sweep model.backbone.se_cfg.ratio: no values'),
        ('model.backbone.se_cfg.ratio', 'expected KEY=V1,V2'),
        ('modle.backbone.depth=18,34', "the config has no 'modle'"),
        ('model.backbone.se_position=standard,middle', 'se_position must be one of'),
    ],
)
def test_tool_bad_specs(monkeypatch, capsys, tmp_path, sweep, needle):
    code, out, err = run_tool(
        monkeypatch, capsys, QUICKSTART, '--sweep', sweep, '--work-dir', tmp_path, '--dry-run'
    )
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('error: ') and needle in lines[0], err


def test_tool_dry_run(monkeypatch, capsys, tmp_path):
    code, out, err = run_tool(
        monkeypatch,
        capsys,
        QUICKSTART,
        '--sweep',
        'model.backbone.se_stages=(False,True,True,True),(True,True,True,True)',
        '--sweep',
        'model.backbone.se_position=standard,post',
        '--max-epochs',
        '1',
        '--work-dir',
        tmp_path / 'w',
        '--dry-run',
    )
    assert code == 0, err
    assert 'se_stages-False-True-True-True_se_position-post/seed0' in out
    assert len([line for line in out.splitlines() if '/seed0:' in line]) == 4
    assert not osp.exists(tmp_path / 'w')


# ------------------------------------------------------------- real tiny sweep


def _json(path):
    with open(path) as f:
        return json.load(f)


def _csv(path):
    with open(path, newline='') as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_tiny_sweep(tiny_sweep):
    plan, outcome, text = tiny_sweep
    assert outcome['failed'] == []
    assert '[1/2] ratio-2/seed0: start' in text
    assert '[2/2] ratio-8/seed0: epoch 2/2 [2/2]' in text and 'ETA' in text
    assert '[2/2] ratio-8/seed0: accuracy/top1 ' in text
    rows = _csv(osp.join(plan.work_dir, 'results.csv'))
    assert [(r['point'], r['ratio'], r['seeds']) for r in rows] == [
        ('ratio-2', '2', '1'),
        ('ratio-8', '8', '1'),
    ]
    assert int(rows[0]['params']) > int(rows[1]['params']) > 0
    assert all(0 <= float(r['accuracy/top1 mean']) <= 100 for r in rows)
    with open(osp.join(plan.work_dir, 'results.md')) as f:
        table = f.read()
    assert '| ratio-2 | 2 |' in table and 'python tools/ablate.py' in table
    with open(osp.join(plan.work_dir, 'results.png'), 'rb') as f:
        assert f.read(4) == b'\x89PNG'
    for run in plan.runs:
        result = _json(osp.join(run.work_dir, 'result.json'))
        assert result['spec'] == run.spec and result['resumed'] is False
        assert result['checkpoint'].endswith('epoch_2.pth') and osp.isfile(result['checkpoint'])
        assert set(result['metrics']) == {'accuracy/top1'}
        # the test ran on the 50 spread digits
        assert os.listdir(osp.join(run.work_dir, 'test'))


@pytest.mark.slow
def test_rerun_skips_finished_and_resumes_interrupted(tiny_sweep):
    plan, _, _ = tiny_sweep
    done, interrupted = plan.runs
    # ratio-8 "killed" during epoch 2: no result, no epoch_2 checkpoint
    os.remove(osp.join(interrupted.work_dir, 'result.json'))
    os.remove(osp.join(interrupted.work_dir, 'epoch_2.pth'))
    epoch1 = osp.join(interrupted.work_dir, 'epoch_1.pth')
    assert osp.isfile(epoch1)
    with open(osp.join(interrupted.work_dir, 'last_checkpoint'), 'w') as f:
        f.write(epoch1)
    kept = osp.join(done.work_dir, 'result.json')
    stamp = os.stat(kept).st_mtime_ns

    again = plan_tiny(plan.work_dir)
    outcome, text = run_plan(again)
    assert '[1/2] ratio-2/seed0: done before' in text and 'skipped' in text
    assert '[2/2] ratio-8/seed0: resuming from its last checkpoint' in text
    assert 'epoch 1/2' not in text  # epoch 1 was not trained again
    assert os.stat(kept).st_mtime_ns == stamp
    result = _json(osp.join(interrupted.work_dir, 'result.json'))
    assert result['resumed'] is True
    assert osp.isfile(osp.join(interrupted.work_dir, 'epoch_2.pth'))
    with open(osp.join(interrupted.work_dir, 'ablate.log')) as f:
        log = f.read()
    assert 'resumed epoch: 1' in log
    assert len(_csv(osp.join(plan.work_dir, 'results.csv'))) == 2

    # the same dirs with other settings are refused, not mixed in
    options = dict(TINY_OPTIONS, **{'optim_wrapper.optimizer.lr': 0.05})
    with pytest.raises(SweepError, match='holds a run with other settings'):
        plan_tiny(plan.work_dir, cfg_options=options)


def test_failed_run_reports_log(tmp_path):
    from se_plugin.analysis.ablation import Progress, RunFailed, launch

    # a stand-in for the worker process that fails at once
    fake = tmp_path / 'fake_python'
    fake.write_text(
        '#!/bin/sh\necho "Epoch(train) [1][1/2]  loss: 2.5"\necho "error: boom"\nexit 3\n'
    )
    fake.chmod(0o755)
    run = Run(Point('p', {}), 0, str(tmp_path / 'p' / 'seed0'), {'config': 'x'})
    with open(os.devnull, 'w') as devnull:
        progress = Progress(1, 1, devnull)
        with pytest.raises(RunFailed, match=r'p/seed0 failed \(exit code 3\): error: boom'):
            launch(run, ('epoch', 1), progress, 1, python=str(fake))
    assert progress.partial > 0  # the progress line was read
    log = (tmp_path / 'p' / 'seed0' / 'ablate.log').read_text()
    assert 'error: boom' in log
    assert json.loads((tmp_path / 'p' / 'seed0' / 'point.json').read_text()) == {'config': 'x'}


def test_edited_config_is_noticed(tmp_path):
    from se_plugin.analysis.ablation import plan_sweep, run_point, write_json

    config = tmp_path / 'cfg.py'
    config.write_text(f'_base_ = [{QUICKSTART!r}]\nrandomness = dict(seed=0)\n')
    sweep = ['model.backbone.se_cfg.ratio=4']
    run = plan_sweep(str(config), sweep, work_dir=str(tmp_path / 'w')).runs[0]
    os.makedirs(run.work_dir)
    write_json(osp.join(run.work_dir, 'point.json'), run.spec)
    config.write_text(f'_base_ = [{QUICKSTART!r}]\nrandomness = dict(seed=1)\n')
    # the run refuses before training, and a new plan refuses the dir
    with pytest.raises(ValueError, match='changed since this sweep was planned'):
        run_point(run.work_dir)
    with pytest.raises(SweepError, match=r'other settings \(different config contents\)'):
        plan_sweep(str(config), sweep, work_dir=str(tmp_path / 'w'))
