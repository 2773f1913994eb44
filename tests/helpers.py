"""Small helpers shared by the tests (tests/ is on sys.path)."""

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
