"""tools/convert.py (errors: one line, exit 2) and the converted-weights fine-tuning recipe."""

import os
import os.path as osp
import subprocess
import sys
from functools import partial

import pytest
import torch
from helpers import run_script

import se_plugin  # noqa: F401
from se_plugin.convert import ARCHS
from se_plugin.runtime.checkpoint import load_checkpoint_file

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(ROOT, 'tools', 'convert.py')
RECIPE = osp.join(ROOT, 'configs', 'finetune', 'se_resnet50_converted_mnist5k.py')


run_tool = partial(run_script, TOOL)  # (monkeypatch, capsys, *args) -> (code, out, err)


@pytest.fixture(scope='module')
def mm_r50(tmp_path_factory):
    """A random mmpretrain SE-ResNet-50 checkpoint file ({'state_dict', 'meta'})."""
    from mmpretrain.registry import MODELS

    model = MODELS.build(
        dict(
            type='ImageClassifier',
            backbone=dict(type='mmpretrain.SEResNet', depth=50),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(type='LinearClsHead', num_classes=1000, in_channels=2048),
        )
    )
    path = str(tmp_path_factory.mktemp('mm') / 'se-resnet50.pth')
    torch.save({'state_dict': model.state_dict(), 'meta': {'epoch': 140}}, path)
    return path, model.state_dict()


def assert_user_error(code, err, *needles):
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('error: '), err
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_convert_and_list(monkeypatch, capsys, mm_r50, tmp_path):
    dst = tmp_path / 'out.pth'
    code, out, err = run_tool(
        monkeypatch, capsys, mm_r50[0], dst, '--from', 'mmpretrain', '--arch', 'seresnet50'
    )
    assert code == 0, err
    assert f'saved {dst}: se_plugin.SEResNet(depth=50) with 1000-class head' in out
    saved = load_checkpoint_file(str(dst))
    assert saved['meta']['arch'] == 'seresnet50'
    assert saved['meta']['source']['framework'] == 'mmpretrain'
    code, out, _ = run_tool(monkeypatch, capsys, '--list')
    assert code == 0
    assert len(out.strip().splitlines()) == sum(len(a) for a in ARCHS.values())
    assert '--from timm       --arch seresnext101_32x8d' in out
    # each arch's public weight tags, read from timm's and mmpretrain's own tables
    assert "<- timm.create_model('seresnet50'); weights: a1_in1k, a2_in1k, a3_in1k, ra2_in1k" in out
    assert "<- timm.create_model('seresnet18'); weights: none public" in out
    assert 'weights: seresnet50_8xb32_in1k' in out
    assert "<- timm.create_model('seresnextaa101d_32x8d'); weights: ah_in1k, sw_in12k," in out


def test_tags_name_the_preprocessing(monkeypatch, capsys, mm_r50, tmp_path):
    dst = tmp_path / 'out.pth'
    args = (mm_r50[0], dst, '--from', 'mmpretrain', '--arch', 'seresnet50_8xb32_in1k')
    code, out, err = run_tool(monkeypatch, capsys, *args)
    assert code == 0, err
    assert 'converted from mmpretrain seresnet50; preprocessing of mmpretrain config' in out
    meta = load_checkpoint_file(str(dst))['meta']
    assert meta['source']['tag'] == meta['source']['weights'] == 'seresnet50_8xb32_in1k'
    code, _, err = run_tool(monkeypatch, capsys, *args[:-1], 'seresnet50', '--tag', 'x_in1k')
    assert_user_error(code, err, "unknown --tag 'x_in1k' for mmpretrain seresnet50")
    code, _, err = run_tool(monkeypatch, capsys, *args, '--test-size')
    assert_user_error(code, err, '--test-size')


def test_a_family_model_that_does_not_convert(monkeypatch, capsys, mm_r50, tmp_path):
    args = (mm_r50[0], tmp_path / 'o.pth', '--from', 'timm', '--arch', 'legacy_seresnet18')
    code, _, err = run_tool(monkeypatch, capsys, *args)
    assert_user_error(code, err, 'timm legacy_seresnet18 does not convert: ', 'ReLU before its SE')
    assert not (tmp_path / 'o.pth').exists()


def test_unknown_arch(monkeypatch, capsys, mm_r50, tmp_path):
    code, _, err = run_tool(
        monkeypatch, capsys, mm_r50[0], tmp_path / 'o.pth', '--from', 'timm', '--arch', 'resnet50'
    )
    assert_user_error(code, err, "unknown --arch 'resnet50' for --from timm", 'seresnet50')
    assert not (tmp_path / 'o.pth').exists()


def test_wrong_from(monkeypatch, capsys, mm_r50, tmp_path):
    args = (mm_r50[0], tmp_path / 'o.pth', '--arch', 'seresnet50')
    code, _, err = run_tool(monkeypatch, capsys, *args, '--from', 'torchvision')
    assert_user_error(code, err, "--from must be one of timm, mmpretrain; got 'torchvision'")
    # the file is mmpretrain's, given as timm: every key is named, with a hint
    code, _, err = run_tool(monkeypatch, capsys, *args, '--from', 'timm')
    assert_user_error(code, err, 'try --from mmpretrain', 'backbone.conv1.weight')


def test_missing_keys(monkeypatch, capsys, mm_r50, tmp_path):
    sd = dict(mm_r50[1])
    del sd['backbone.layer4.2.se_layer.conv2.conv.bias']
    src = tmp_path / 'missing.pth'
    torch.save({'state_dict': sd}, src)
    code, _, err = run_tool(
        monkeypatch, capsys, src, tmp_path / 'o.pth', '--from', 'mmpretrain', '--arch', 'seresnet50'
    )
    assert_user_error(code, err, '1 missing key(s): backbone.layer4.2.attn.fc2.bias')
    assert 'ConversionError' in err


def test_misshaped_keys(monkeypatch, capsys, mm_r50, tmp_path):
    src = tmp_path / 'r50.pth'
    torch.save({'state_dict': mm_r50[1]}, src)
    # an SE-ResNet-50 given as an SE-ResNeXt-50: the 3x3 and 1x1 convs change shape
    code, _, err = run_tool(
        monkeypatch,
        capsys,
        src,
        tmp_path / 'o.pth',
        '--from',
        'mmpretrain',
        '--arch',
        'seresnext50_32x4d',
    )
    assert_user_error(
        code, err, 'mis-shaped key(s): backbone.layer1.0.conv1.weight: (64, 64, 1, 1)'
    )
    assert 'vs ours (128, 64, 1, 1)' in err


def test_missing_source_and_bad_file(monkeypatch, capsys, tmp_path):
    args = ('--from', 'timm', '--arch', 'seresnet18')
    code, _, err = run_tool(monkeypatch, capsys, tmp_path / 'nope.pth', tmp_path / 'o.pth', *args)
    assert_user_error(code, err, 'source checkpoint not found', 'nope.pth')
    cut = tmp_path / 'cut.pth'
    torch.save({'conv1.weight': torch.zeros(64, 3, 7, 7)}, cut)
    cut.write_bytes(cut.read_bytes()[:200])  # a truncated download
    code, _, err = run_tool(monkeypatch, capsys, cut, tmp_path / 'o.pth', *args)
    assert_user_error(code, err, 'cut.pth', 'corrupt or truncated')


def test_missing_arguments(monkeypatch, capsys, tmp_path):
    code, _, err = run_tool(monkeypatch, capsys, tmp_path / 'a.pth', tmp_path / 'b.pth')
    assert code == 2 and 'missing --from, --arch' in err


def test_tool_runs_as_a_script(mm_r50, tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS='1')
    env.pop('SE_PLUGIN_DEBUG', None)
    dst = tmp_path / 'out.pth'
    cmd = [sys.executable, TOOL, mm_r50[0], str(dst), '--from', 'mmpretrain', '--arch']
    proc = subprocess.run(
        [*cmd, 'seresnet50', '--backbone-only'], capture_output=True, text=True, env=env, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stderr
    assert 'with no head' in proc.stdout
    keys = load_checkpoint_file(str(dst))['state_dict']
    assert keys and all(k.startswith('backbone.') for k in keys)


# ------------------------------------------------------------------ fine-tuning recipe


@pytest.fixture(scope='module')
def converted_r50(mm_r50, tmp_path_factory):
    from se_plugin.convert import convert_checkpoint

    dst = str(tmp_path_factory.mktemp('converted') / 'se_resnet50_converted.pth')
    convert_checkpoint(mm_r50[0], dst, 'mmpretrain', 'seresnet50')
    return dst


TINY = {
    'train_dataloader.batch_size': 2,
    'train_dataloader.dataset.indices': 2,
    'train_cfg.max_epochs': 1,
    'default_hooks.checkpoint.interval': 100,
    'default_hooks.checkpoint.save_last': False,
    'default_hooks.logger.interval': 1,
    'env_cfg.torch_num_threads': 1,
}


@pytest.mark.parametrize('how', ['init_cfg', 'load_from'])
def test_finetune_recipe_one_iteration(converted_r50, tmp_path, how):
    from se_plugin.cli import build_runner, prepare_train_config

    options = dict(TINY)
    if how == 'init_cfg':
        options['model.backbone.init_cfg.checkpoint'] = converted_r50
    else:
        options.update({'model.backbone.init_cfg': None, 'load_from': converted_r50})
    cfg = prepare_train_config(
        RECIPE, work_dir=str(tmp_path), no_validate=True, cfg_options=options
    )
    assert cfg.model.head.num_classes == 10
    runner = build_runner(cfg)
    runner.train()
    assert runner.iter == 1
    model = runner.model
    # the converted backbone was loaded (one tiny warm-up step moves it by far less
    # than a fresh init would differ), and the head is a new 10-class one
    converted = load_checkpoint_file(converted_r50)['state_dict']
    for key in ('conv1.weight', 'layer4.2.attn.fc2.weight', 'layer3.5.conv2.weight'):
        diff = (model.backbone.state_dict()[key] - converted['backbone.' + key]).abs().max()
        assert diff < 1e-2, (key, diff)
    assert model.head.fc.weight.shape == (10, 2048)


def test_finetune_preprocessor_makes_rgb():
    """MNIST's one grey channel becomes 3 ImageNet-normalised channels."""
    from mmengine.config import Config
    from mmengine.dataset import pseudo_collate

    from se_plugin.registry import DATASETS, MODELS

    cfg = Config.fromfile(RECIPE)
    dataset = DATASETS.build(dict(cfg.val_dataloader.dataset, indices=2))
    preprocessor = MODELS.build(dict(cfg.data_preprocessor, type='ClsDataPreprocessor'))
    batch = preprocessor(pseudo_collate([dataset[0], dataset[1]]))
    inputs = batch['inputs']
    assert inputs.shape == (2, 3, 64, 64)
    mean = torch.tensor(cfg.data_preprocessor.mean).view(3, 1, 1)
    std = torch.tensor(cfg.data_preprocessor.std).view(3, 1, 1)
    grey = inputs[0] * std + mean
    assert torch.allclose(grey[0], grey[1], atol=1e-3) and torch.allclose(
        grey[0], grey[2], atol=1e-3
    )
