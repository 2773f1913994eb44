"""se_plugin.apis.config: the config a checkpoint carries, parsed and never executed."""

import pytest
import torch
from helpers import QUICKSTART
from mmengine.config import Config

from se_plugin.apis import checkpoint_config, parse_config_text
from se_plugin.runtime.errors import ConfigError


def test_mmengine_pretty_text_round_trips():
    cfg = Config.fromfile(QUICKSTART)
    cfg.work_dir = 'work_dirs/run'
    parsed = parse_config_text(cfg.pretty_text)
    assert parsed == Config(parsed).to_dict()
    assert parsed['model'] == cfg.model.to_dict() and parsed['tta_pipeline'] == cfg.tta_pipeline


@pytest.mark.parametrize(
    'text, line',
    [
        ("x = __import__('os').system('touch pwned')", 'line 1: Call is not a plain value'),
        ('import os', 'line 1: Import is not `name = value`'),
        ('a = 1\nb = a', 'line 2: Name is not a plain value'),
        ('x = dict(**y)', 'line 1: dict() with positional or ** arguments'),
        ('x = [i for i in range(3)]', 'line 1: ListComp is not a plain value'),
        ('x = open.__globals__', 'line 1: Attribute is not a plain value'),
        ('x, y = 1, 2', 'line 1: Assign is not `name = value`'),
        ('x = (', 'line 1:'),
    ],
)
def test_anything_but_plain_values_is_refused(text, line):
    with pytest.raises(ValueError, match=None) as info:
        parse_config_text(text)
    assert str(info.value).startswith(line)


def test_checkpoint_config(tmp_path, quickstart_checkpoint):
    cfg = checkpoint_config(quickstart_checkpoint)
    assert cfg.model.backbone.in_channels == 1 and cfg.filename is None
    # a training run's work_dir names that run: left out
    path = str(tmp_path / 'run.pth')
    meta = dict(cfg="work_dir = '/somewhere/else'\nmodel = dict(type='ImageClassifier')")
    torch.save(dict(state_dict={}, meta=meta), path)
    assert 'work_dir' not in checkpoint_config(path)


@pytest.mark.parametrize(
    'meta, message',
    [
        (None, "it has no config in meta['cfg'] (a plain state dict?); pass --config"),
        (dict(backbone_only=True), 'it was converted with --backbone-only'),
        (dict(cfg="x = __import__('os').system('touch pwned')"), 'is not a plain config'),
    ],
)
def test_checkpoints_without_a_usable_config(tmp_path, monkeypatch, meta, message):
    monkeypatch.chdir(tmp_path)
    path = str(tmp_path / 'ckpt.pth')
    torch.save({'w': torch.zeros(1)} if meta is None else dict(state_dict={}, meta=meta), path)
    with pytest.raises(ConfigError, match=None) as info:
        checkpoint_config(path)
    assert message in str(info.value)
    assert not (tmp_path / 'pwned').exists()
