"""se_plugin.convert.checkpoint: converted files load with load_from and init_cfg."""

import copy
import os

import pytest
import torch
from torch import nn

import se_plugin  # noqa: F401  (registers se_plugin modules)
from se_plugin.apis import parse_config_text
from se_plugin.convert import (
    ConversionError,
    convert_checkpoint,
)
from se_plugin.registry import MODELS
from se_plugin.runtime.checkpoint import load_checkpoint_file

from .peers import (
    TOL,
    logits,
    mmpretrain_peer,
    randomize,
)


@pytest.mark.parametrize('kind', ['pth', 'safetensors'])
def test_convert_file_and_load_from(seresnet18_files, tmp_path, kind):
    from mmengine.runner import load_checkpoint

    files, x, expected = seresnet18_files
    if kind not in files:
        pytest.skip('safetensors is not installed')
    dst = str(tmp_path / 'converted.pth')
    meta = convert_checkpoint(files[kind], dst, 'timm', 'seresnet18')
    saved = load_checkpoint_file(dst)  # weights_only=True: plain tensors and dicts
    assert set(saved) == {'state_dict', 'meta'}
    assert saved['meta'] == meta and meta['num_classes'] == 1000
    assert meta['source']['weights'] == 'seresnet18.untrained'  # timm publishes none
    assert parse_config_text(meta['cfg'])['model'] == meta['model']
    # what `load_from` does (Runner.load_checkpoint), strictly
    model = MODELS.build(meta['model']).eval()
    load_checkpoint(model, dst, map_location='cpu', strict=True)
    assert (logits(model, x) - expected).abs().max() <= TOL


def test_init_cfg_pretrained_with_backbone_prefix(seresnet18_files, tmp_path):
    files, x, expected = seresnet18_files
    dst = str(tmp_path / 'converted.pth')
    meta = convert_checkpoint(files['pth'], dst, 'timm', 'seresnet18')
    cfg = copy.deepcopy(meta['model'])
    cfg['backbone']['init_cfg'] = dict(type='Pretrained', checkpoint=dst, prefix='backbone.')
    cfg['head']['num_classes'] = 10  # a new head for fine-tuning
    model = MODELS.build(cfg)
    model.init_weights()
    model.eval()
    converted = torch.load(dst, weights_only=True)['state_dict']
    for key, value in model.backbone.state_dict().items():
        assert torch.equal(value, converted['backbone.' + key]), key
    # the backbone features are the source's: same logits through the source's head
    feats = model.neck(model.backbone(x))[-1]
    head = converted['head.fc.weight'], converted['head.fc.bias']
    assert (nn.functional.linear(feats, *head) - expected).abs().max() <= TOL


def test_backbone_only_and_mmpretrain_meta(tmp_path):
    peer = randomize(mmpretrain_peer('seresnet50', num_classes=7))
    src = str(tmp_path / 'mm.pth')
    torch.save(
        {'state_dict': peer.state_dict(), 'meta': {'dataset_meta': {'classes': list('abcdefg')}}},
        src,
    )
    meta = convert_checkpoint(src, str(tmp_path / 'full.pth'), 'mmpretrain', 'seresnet50')
    assert meta['num_classes'] == 7 and meta['model']['head']['num_classes'] == 7
    assert meta['dataset_meta'] == {'classes': list('abcdefg')}
    # the pipeline of mmpretrain's own seresnet50 config, without an ImageNet test set (7 classes)
    cfg = parse_config_text(meta['cfg'])
    assert cfg['test_pipeline'][1] == dict(
        type='ResizeEdge', scale=256, edge='short', backend='pillow'
    )
    assert 'test_dataloader' not in cfg and cfg['data_preprocessor']['num_classes'] == 7
    dst = str(tmp_path / 'backbone.pth')
    meta = convert_checkpoint(src, dst, 'mmpretrain', 'seresnet50', backbone_only=True)
    keys = list(load_checkpoint_file(dst)['state_dict'])
    assert meta['backbone_only'] and meta['num_classes'] is None and 'cfg' not in meta
    assert keys and all(k.startswith('backbone.') for k in keys)


def test_tag_preprocessing_and_classes(seresnet18_files, tmp_path):
    """The tag's preprocessing and ImageNet class names travel in meta (seresnet18 has no
    public tag: the tags of seresnet50 would not fit its weights, so the default is used,
    and a tag of another arch is refused before anything is written)."""
    dst = str(tmp_path / 'converted.pth')
    with pytest.raises(ConversionError, match="unknown --tag 'ra2_in1k' for timm seresnet18"):
        convert_checkpoint(seresnet18_files[0]['pth'], dst, 'timm', 'seresnet18', tag='ra2_in1k')
    assert not os.path.exists(dst)
    meta = convert_checkpoint(
        seresnet18_files[0]['pth'], dst, 'timm', 'seresnet18', use_test_size=True
    )
    assert meta['preprocess']['data_cfg']['input_size'] == (3, 288, 288)
    assert meta['dataset_meta']['classes'][1] == 'goldfish, Carassius auratus'
    cfg = parse_config_text(meta['cfg'])
    assert cfg['test_dataloader']['dataset']['pipeline'][2] == dict(
        type='CenterCrop', crop_size=288
    )
    assert cfg['test_evaluator'] == dict(type='Accuracy', topk=(1, 5))


def test_output_checks(tmp_path, mm_r50):
    src = str(tmp_path / 'src.pth')
    torch.save(mm_r50[0], src)
    with pytest.raises(ConversionError, match='must not overwrite the source'):
        convert_checkpoint(src, src, 'mmpretrain', 'seresnet50')
    with pytest.raises(FileNotFoundError, match='output folder does not exist'):
        convert_checkpoint(src, str(tmp_path / 'no' / 'dst.pth'), 'mmpretrain', 'seresnet50')
    with pytest.raises(ConversionError, match='unknown --arch'):
        convert_checkpoint(src, str(tmp_path / 'dst.pth'), 'mmpretrain', 'seresnet18')
    assert os.listdir(tmp_path) == ['src.pth']
