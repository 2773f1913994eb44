"""tools/infer.py: convert -> predict, trained digits, and one-line errors (exit 2)."""

import json
import os.path as osp
from functools import partial

import numpy as np
import pytest
import torch
from helpers import digit_files, run_script
from images import write_images

from se_plugin.apis import inference_model, init_model

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
infer = partial(run_script, osp.join(ROOT, 'tools', 'infer.py'))
convert = partial(run_script, osp.join(ROOT, 'tools', 'convert.py'))


def assert_user_error(code, err, *needles):
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('error: '), err
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.fixture(scope='module')
def converted(tmp_path_factory):
    """A random timm seresnet18 converted by tools/convert.py (the module's first test)."""
    timm = pytest.importorskip('timm')
    root = tmp_path_factory.mktemp('converted')
    torch.save(timm.create_model('seresnet18').state_dict(), root / 'seresnet18.pth')
    return root


def test_convert_then_predict(monkeypatch, capsys, converted, tmp_path):
    src, dst = converted / 'seresnet18.pth', converted / 'seresnet18_se_plugin.pth'
    code, out, err = convert(
        monkeypatch, capsys, src, dst, '--from', 'timm', '--arch', 'seresnet18'
    )
    assert code == 0, err
    assert 'preprocessing of seresnet18.untrained: 224x224 px, bicubic, crop_pct 0.875' in out
    (tmp_path / 'images').mkdir()
    images = write_images(tmp_path / 'images')
    out_file = tmp_path / 'preds.json'
    args = (
        dst,
        images[0],
        tmp_path / 'images',
        '--topk',
        '3',
        '--out',
        out_file,
        '--device',
        'cpu',
    )
    code, out, err = infer(monkeypatch, capsys, *args)
    assert code == 0, err
    listed = [images[0], *sorted(images)]
    with open(out_file) as f:
        written = json.load(f)
    assert [r['image'] for r in written] == listed
    assert set(written[0]) == {'image', 'pred_label', 'pred_score', 'pred_scores', 'pred_class'}
    expected = inference_model(init_model(str(dst)), listed, topk=3)
    for got, want in zip(written, expected):
        assert got['pred_label'] == want['pred_label'] and got['pred_class'] == want['pred_class']
        assert np.allclose(got['pred_scores'], want['pred_scores'], atol=1e-7)
        assert len(got['pred_scores']) == 1000
    # the console: each image, then its top 3 (probability, label, class name)
    lines = out.strip().splitlines()
    assert lines[0] == images[0] and len(lines) == 4 * len(listed) + 1
    top = expected[0]['topk'][0]
    assert lines[1].split() == [
        f'{100 * top["score"]:.2f}%',
        str(top['label']),
        *top['class'].split(),
    ]
    assert lines[-1] == f'{len(listed)} predictions written to {out_file}'
    assert 'Loads checkpoint' not in out and 'mmengine - INFO' not in out


def test_trained_digits(monkeypatch, capsys, tmp_path, tiny_sweep):
    """A checkpoint of a real training run (config in meta['cfg'] by mmengine's Runner),
    1-channel: digit PNGs are read in grayscale."""
    checkpoint = osp.join(tiny_sweep[0].runs[0].work_dir, 'epoch_2.pth')
    paths, samples = digit_files(tmp_path, 4)
    code, out, err = infer(monkeypatch, capsys, checkpoint, *paths, '--topk', '2')
    assert code == 0, err
    blocks = out.strip().split('\n')
    assert blocks[0::3] == paths and len(blocks) == 3 * len(paths)
    for line in blocks[1::3]:  # "  97.12%  3  3": the class names are the digits
        score, label, name = line.split()
        assert label == name and 0 < float(score[:-1]) <= 100


@pytest.fixture(scope='module')
def bad_inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp('bad')
    torch.save({'conv.weight': torch.zeros(1)}, root / 'state_dict.pth')
    (root / 'notes.txt').write_text('not an image')
    (root / 'broken.png').write_bytes(b'not a png')
    (root / 'empty').mkdir()
    quickstart = osp.join(ROOT, 'configs', 'quickstart', 'se_resnet18_mnist5k.py')
    (root / 'no_pipeline.py').write_text(  # the tiny sweep's model (ratio 2), no pipeline
        f"_base_ = '{quickstart}'\nmodel = dict(backbone=dict(attn_cfg=dict(ratio=2)))\n"
        'test_dataloader = None\ntest_pipeline = None\n'
    )
    write_images(root)
    return root


@pytest.mark.parametrize(
    'args, needles',
    [
        (('{ckpt}', '{root}/missing.png'), ['image file or folder not found: ', 'missing.png']),
        (('{ckpt}', '{root}/notes.txt'), ['notes.txt is not an image file']),
        (('{ckpt}', '{root}/empty'), ['no image files (.jpg']),
        (('{ckpt}', '{root}/broken.png'), ['cannot decode image', 'broken.png']),
        (('{root}/state_dict.pth', '{root}/palette.png'), ["no config in meta['cfg']", '--config']),
        (
            ('{ckpt}', '{root}/palette.png', '--config', '{root}/no_pipeline.py'),
            ['has no test pipeline'],
        ),
        (
            ('{ckpt}', '{root}/palette.png', '--out', 'p.csv'),
            ["--out must be a .json file, got 'p.csv'"],
        ),
        (('{ckpt}', '{root}/palette.png', '--device', 'tpu'), ["got 'tpu'"]),
        (('{root}/missing.pth', '{root}/palette.png'), ['checkpoint not found']),
        (('{ckpt}', '{root}/palette.png', '--topk', '0'), ['--topk: must be an int >= 1, got 0']),
    ],
    ids=lambda v: v[-1] if isinstance(v, tuple) else None,
)
def test_bad_inputs(monkeypatch, capsys, tiny_sweep, bad_inputs, args, needles):
    ckpt = osp.join(tiny_sweep[0].runs[0].work_dir, 'epoch_2.pth')
    args = [a.format(ckpt=ckpt, root=bad_inputs) for a in args]
    code, out, err = infer(monkeypatch, capsys, *args)
    assert_user_error(code, err, *needles)
