"""Small helpers shared by the tests (tests/ is on sys.path)."""

import runpy
import sys

import pytest
import torch


def classifier(backbone: dict, in_channels: int, num_classes: int = 1000) -> dict:
    """An mmpretrain ImageClassifier config around ``backbone`` (for param counts)."""
    return dict(
        type='ImageClassifier',
        backbone=backbone,
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=num_classes, in_channels=in_channels),
    )


def num_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def run_script(path: str, monkeypatch, capsys, *args) -> tuple:
    """Run the tool script ``path`` in this process: (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, 'argv', [path, *map(str, args)])
    monkeypatch.delenv('SE_PLUGIN_DEBUG', raising=False)
    with pytest.raises(SystemExit) as exc:
        runpy.run_path(path, run_name='__main__')
    out, err = capsys.readouterr()
    return exc.value.code, out, err
