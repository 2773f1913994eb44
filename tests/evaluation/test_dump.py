"""se_plugin.evaluation.dump: tools/test.py --out, mmpretrain's pickle or JSON, atomic."""

import json
import os

import mmengine
import pytest
import torch
from mmengine.config import Config

from se_plugin.evaluation import DumpPredictions, add_prediction_dump, check_dump_file, write_dump

SAMPLES = [
    dict(pred_score=torch.tensor([0.25, 0.75]), pred_label=torch.tensor([1]), img_path='a.png'),
    dict(pred_score=torch.tensor([0.5, 0.5]), pred_label=torch.tensor([0]), sample_idx=3),
]


@pytest.mark.parametrize('name', ['preds.pkl', 'preds.pickle', 'preds.json'])
def test_dump_formats(tmp_path, name):
    path = str(tmp_path / name)
    metric = DumpPredictions(path)
    metric.process({}, SAMPLES)
    assert metric.compute_metrics(metric.results) == {}
    assert os.listdir(tmp_path) == [name]  # no temporary file left
    if name.endswith('.json'):
        with open(path) as f:
            assert json.load(f) == [
                dict(pred_score=[0.25, 0.75], pred_label=[1], img_path='a.png'),
                dict(pred_score=[0.5, 0.5], pred_label=[0], sample_idx=3),
            ]
    else:  # what mmpretrain's --out writes: the samples as dicts of tensors
        loaded = mmengine.load(path)
        assert loaded[1]['sample_idx'] == 3 and torch.equal(
            loaded[0]['pred_score'], SAMPLES[0]['pred_score']
        )


def test_a_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / 'metrics.json'
    path.write_text('old')

    def broken(*args, **kwargs):
        raise OSError('disk full')

    monkeypatch.setattr(json, 'dumps', broken)
    with pytest.raises(OSError, match='disk full'):
        write_dump({'accuracy/top1': 90.0}, str(path))
    assert path.read_text() == 'old' and os.listdir(tmp_path) == ['metrics.json']


def test_bad_names():
    with pytest.raises(ValueError, match=r"--out must end with .pkl, .pickle, .json; got 'x.csv'"):
        check_dump_file('x.csv')
    with pytest.raises(ValueError, match='--out must end with'):
        DumpPredictions('preds.txt')


@pytest.mark.parametrize(
    'evaluator, metrics',
    [
        (dict(type='Accuracy'), lambda e: e),
        ([dict(type='Accuracy'), dict(type='Accuracy', topk=(1, 5))], lambda e: e),
        (dict(type='Evaluator', metrics=[dict(type='Accuracy')]), lambda e: e['metrics']),
    ],
)
def test_added_to_the_test_evaluator(evaluator, metrics):
    cfg = Config(dict(test_evaluator=evaluator))
    add_prediction_dump(cfg, 'out.pkl')
    added = metrics(cfg.test_evaluator)
    assert added[-1] == dict(type='se_plugin.DumpPredictions', out_file='out.pkl')
    assert added[0] == dict(type='Accuracy')
