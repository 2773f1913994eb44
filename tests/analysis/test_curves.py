"""se_plugin.analysis.curves, tools/analysis/plot_curves.py and the TensorBoard backend.

One real run (2 epochs of 64 MNIST-5k digits, validated after each) with the
README's one-line TensorBoard change: mmengine writes both ``scalars.json``
and a TensorBoard event file, which must hold the same losses.
"""

import glob
import json
import os
import os.path as osp
from functools import partial

import pytest
from helpers import run_script

from se_plugin.analysis.curves import curves, find_scalars, load_scalars, plot_curves

from .conftest import QUICKSTART, ROOT, TINY_OPTIONS

TOOL = osp.join(ROOT, 'tools', 'analysis', 'plot_curves.py')
TENSORBOARD_LINE = (
    "visualizer = dict(vis_backends=[dict(type='LocalVisBackend'), "
    "dict(type='TensorboardVisBackend')])"
)


@pytest.fixture(scope='module')
def run_dir(tmp_path_factory):
    """A finished 2-epoch run with the TensorBoard backend: its work dir."""
    from se_plugin.cli import build_runner, prepare_train_config

    tmp = tmp_path_factory.mktemp('curves')
    config = tmp / 'tb_cfg.py'
    config.write_text(f'_base_ = [{QUICKSTART!r}]\n{TENSORBOARD_LINE}\n')
    options = dict(TINY_OPTIONS, **{'train_cfg.max_epochs': 2, 'train_cfg.val_interval': 1})
    options['val_dataloader.dataset.indices'] = options.pop('test_dataloader.dataset.indices')
    options.pop('test_dataloader.batch_size')
    cfg = prepare_train_config(str(config), work_dir=str(tmp / 'work'), cfg_options=options)
    build_runner(cfg).train()
    return str(tmp / 'work')


def test_readme_documents_the_tested_tensorboard_line():
    with open(osp.join(ROOT, 'README.md')) as f:
        assert TENSORBOARD_LINE in f.read()


def test_tensorboard_events_hold_the_logged_losses(run_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = glob.glob(osp.join(run_dir, '*', 'vis_data', 'events.out.tfevents.*'))
    assert len(events) == 1
    accumulator = EventAccumulator(events[0])
    accumulator.Reload()
    assert {'loss', 'lr', 'accuracy/top1'} <= set(accumulator.Tags()['scalars'])
    logged = [r for r in load_scalars(run_dir) if 'loss' in r]
    assert len(logged) == 4  # 2 epochs x 2 iterations, a line each
    board = {e.step: e.value for e in accumulator.Scalars('loss')}
    assert board == pytest.approx({r['step']: r['loss'] for r in logged}, rel=1e-6)


def test_curves_of_a_real_run(run_dir):
    found = curves(load_scalars(run_dir), ['loss', 'accuracy/top1', 'lr', 'nope'])
    assert set(found) == {'loss', 'accuracy/top1', 'lr'}
    assert found['loss'][0] == [0.5, 1.0, 1.5, 2.0]  # epochs: 2 iterations each
    assert found['accuracy/top1'][0] == [1, 2]
    assert all(0 <= acc <= 100 for acc in found['accuracy/top1'][1])


def test_epochs_from_a_logging_interval_that_does_not_divide_the_epoch():
    # 63 iterations per epoch, a line every 20: epoch 1 logs 20, 40, 60; epoch 2 83, ...
    records = [{'loss': 1.0, 'epoch': e, 'iter': 63 * (e - 1) + i, 'step': 0} for e in (1, 2)
               for i in (20, 40, 60)]  # fmt: skip
    xs = curves(records, ['loss'])['loss'][0]
    assert xs == pytest.approx([20 / 63, 40 / 63, 60 / 63, 83 / 63, 103 / 63, 123 / 63])


def test_curves_iteration_based_and_resumed(tmp_path):
    records = [
        {'loss': 2.0, 'iter': 10, 'step': 10},
        {'loss': 1.0, 'iter': 20, 'step': 20},
        {'accuracy/top1': 50.0, 'step': 20},
    ]
    found = curves(records, ['loss', 'accuracy/top1'])
    assert found == {'loss': ([10, 20], [2.0, 1.0]), 'accuracy/top1': ([20], [50.0])}
    # a resumed run: two timestamp folders, read oldest first
    for stamp, lines in (('20260101_000000', records[:1]), ('20260102_000000', records[1:])):
        folder = tmp_path / stamp / 'vis_data'
        folder.mkdir(parents=True)
        (folder / 'scalars.json').write_text(''.join(json.dumps(r) + '\n' for r in lines))
    assert [osp.basename(osp.dirname(osp.dirname(p))) for p in find_scalars(str(tmp_path))] == [
        '20260101_000000',
        '20260102_000000',
    ]
    assert load_scalars(str(tmp_path)) == records


@pytest.mark.parametrize(
    'kwargs, error, match',
    [
        (dict(work_dirs=['missing_dir']), FileNotFoundError, 'no mmengine scalars.json'),
        (dict(keys=['nope']), ValueError, 'none of the keys nope has a numeric value in .*; keys'),
        (dict(labels=['a', 'b']), ValueError, '2 labels for 1 work dirs'),
        (dict(work_dirs=[]), ValueError, 'at least one work dir'),
    ],
)
def test_plot_curves_bad_arguments(kwargs, error, match, run_dir, tmp_path):
    args = dict(work_dirs=[run_dir], out=str(tmp_path / 'x.png'))
    args.update(kwargs)
    with pytest.raises(error, match=match):
        plot_curves(**args)


@pytest.mark.parametrize(
    'text, match',
    [
        ('', 'no line has a numeric "step"'),
        ('{"loss": 1.0}\n', 'no line has a numeric "step"'),
        ('{"step": "1", "loss": 1.0}\n{"step": [2], "loss": 0.5}\n', 'numeric "step"'),
        ('3\n', 'line 1 is a JSON int, not an object'),
        ('{"step": 1, "loss": 1}\n["x"]\n', 'line 2 is a JSON list, not an object'),
        ('{"step": 1\n', 'line 1 is not JSON'),
    ],
)
def test_unexpected_scalars_files_are_one_clear_error(text, match, tmp_path):
    (tmp_path / 'scalars.json').write_text(text)
    with pytest.raises(ValueError, match=match):
        load_scalars(str(tmp_path))


def test_records_without_a_numeric_step_or_value_are_left_out(tmp_path):
    lines = ['{"step": 1, "loss": 2.0}', '{"step": null, "loss": 9}', '{"step": 2, "loss": "x"}']
    lines += ['{"step": 3, "loss": true}', '{"step": 4, "loss": 1.0, "iter": "a"}']
    (tmp_path / 'scalars.json').write_text('\n'.join(lines))
    assert curves(load_scalars(str(tmp_path)), ['loss']) == {'loss': ([1, 4], [2.0, 1.0])}


def test_the_picture_is_written_atomically(run_dir, tmp_path, monkeypatch):
    out = tmp_path / 'x.png'
    out.write_bytes(b'an earlier picture')
    import matplotlib.figure

    def broken(self, f, **kwargs):
        f.write(b'half a picture')
        raise OSError(28, 'No space left on device')

    monkeypatch.setattr(matplotlib.figure.Figure, 'savefig', broken)
    with pytest.raises(OSError):
        plot_curves([run_dir], str(out))
    assert out.read_bytes() == b'an earlier picture' and os.listdir(tmp_path) == ['x.png']


run_tool = partial(run_script, TOOL)


def test_tool_compares_runs(run_dir, monkeypatch, capsys, tmp_path):
    out = tmp_path / 'curves.png'
    code, stdout, err = run_tool(
        monkeypatch, capsys, run_dir, run_dir, '--labels', 'a', 'b', '--out', out
    )
    assert code == 0, err
    assert stdout.splitlines()[0].startswith('a: last loss ')
    assert stdout.splitlines()[-1] == f'saved {out}'
    assert out.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n' and out.stat().st_size > 10_000
    code, _, err = run_tool(monkeypatch, capsys, tmp_path / 'none', '--out', out)
    assert code == 2 and 'no mmengine scalars.json' in err and len(err.splitlines()) == 1
