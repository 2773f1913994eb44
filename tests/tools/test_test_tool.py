"""tools/test.py: the config from the checkpoint, --out (mmpretrain's dump), --tta."""

import json
import os.path as osp
from functools import partial

import mmengine
import pytest
import torch
from helpers import run_script

pytestmark = pytest.mark.slow  # Runner tests end to end

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
run_test = partial(run_script, osp.join(ROOT, 'tools', 'test.py'))
TWENTY = ('--cfg-options', 'test_dataloader.dataset.indices=20', 'test_dataloader.batch_size=10')


@pytest.fixture(scope='module')
def checkpoint(tiny_sweep):
    """A checkpoint of a real training run (its config in meta['cfg'])."""
    return osp.join(tiny_sweep[0].runs[0].work_dir, 'epoch_2.pth')


def top1(samples) -> float:
    hits = [int(s['pred_score'].argmax()) == int(s['gt_label'][0]) for s in samples]
    return 100 * sum(hits) / len(hits)


def test_config_from_the_checkpoint_and_pickle_dump(monkeypatch, capsys, tmp_path, checkpoint):
    out = tmp_path / 'preds.pkl'
    args = (checkpoint, '--work-dir', tmp_path / 'work', '--out', out, *TWENTY)
    code, stdout, err = run_test(monkeypatch, capsys, *args)
    assert code == 0, err
    samples = mmengine.load(str(out))  # mmpretrain's format: data samples as dicts
    assert len(samples) == 20 and samples[0]['pred_score'].shape == (10,)
    assert [s['sample_idx'] for s in samples] == list(range(20))
    result = stdout.strip().splitlines()[-1]
    assert result == f'test: accuracy/top1: {top1(samples):.2f}'


def test_tta_and_json(monkeypatch, capsys, tmp_path, checkpoint):
    out = tmp_path / 'preds.json'
    args = (checkpoint, '--work-dir', tmp_path / 'work', '--tta', '--out', out, *TWENTY)
    code, stdout, err = run_test(monkeypatch, capsys, *args)
    assert code == 0, err
    with open(out) as f:
        samples = json.load(f)
    assert len(samples) == 20 and 'flip' not in samples[0]
    for sample in samples:  # the label is the averaged scores' arg-max
        assert sample['pred_label'] == [max(range(10), key=sample['pred_score'].__getitem__)]
    hits = [s['pred_label'] == s['gt_label'] for s in samples]
    assert stdout.strip().splitlines()[-1] == f'test: accuracy/top1: {100 * sum(hits) / 20:.2f}'


def test_metrics_out(monkeypatch, capsys, tmp_path, checkpoint):
    out = tmp_path / 'metrics.json'
    args = (checkpoint, '--work-dir', tmp_path / 'w', '--out', out, '--out-item', 'metrics')
    code, stdout, err = run_test(monkeypatch, capsys, *args, *TWENTY)
    assert code == 0, err
    with open(out) as f:
        metrics = json.load(f)
    assert list(metrics) == ['accuracy/top1']
    assert stdout.strip().splitlines()[-1] == f'test: accuracy/top1: {metrics["accuracy/top1"]:.2f}'


@pytest.mark.parametrize(
    'extra, message',
    [
        (('--out', 'preds.csv'), "--out must end with .pkl, .pickle, .json; got 'preds.csv'"),
        (('--out-item', 'metrics'), '--out-item needs --out'),
    ],
)
def test_bad_out(monkeypatch, capsys, tmp_path, checkpoint, extra, message):
    code, _, err = run_test(monkeypatch, capsys, checkpoint, '--work-dir', tmp_path, *extra)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_converted_checkpoint_tests_on_imagenet(monkeypatch, capsys, tmp_path):
    """A converted checkpoint's config tests on ImageNet's val split (data/imagenet):
    without the data, the one-line error names the path and how to point elsewhere."""
    timm = pytest.importorskip('timm')
    from se_plugin.convert import convert_checkpoint

    torch.save(timm.create_model('seresnet18').state_dict(), tmp_path / 'src.pth')
    for name, backbone_only in (('full.pth', False), ('backbone.pth', True)):
        convert_checkpoint(
            str(tmp_path / 'src.pth'), str(tmp_path / name), 'timm', 'seresnet18', backbone_only
        )
    monkeypatch.chdir(tmp_path)
    code, _, err = run_test(monkeypatch, capsys, 'full.pth')
    assert code == 2 and 'data/imagenet' in err and 'test_dataloader.dataset.data_root' in err, err
    code, _, err = run_test(monkeypatch, capsys, 'backbone.pth')
    assert code == 2 and 'converted with --backbone-only' in err, err
