"""Benchmark settings and the result of one (model, mode)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Optional

MODES = ('inference', 'train')


@dataclass
class Options:
    """Benchmark settings (the tool's command line)."""

    batch_size: int = 8
    input_size: int = 224
    num_classes: int = 1000
    modes: Sequence[str] = ('inference', 'train')
    channels_last: bool = False
    compile: bool = False
    amp: bool = False
    device: str = 'cpu'
    warmup: int = 2
    repeats: int = 10
    threads: Optional[int] = None
    seed: int = 0
    timer: str = 'wall'


@dataclass
class Result:
    model: str
    mode: str
    params: int
    times_ms: list = field(default_factory=list)
    warmup_s: float = 0.0
    median_ms: float = 0.0
    ratio: Optional[float] = None
    paired_ratio: Optional[float] = None
    min_ratio: Optional[float] = None
    saved_mb: Optional[float] = None
