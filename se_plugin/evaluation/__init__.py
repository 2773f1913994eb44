"""Test-time extras of ``tools/test.py``: the prediction dump (``--out``) and
test-time augmentation (``--tta``)."""

from .dump import DUMP_FORMATS, DumpPredictions, add_prediction_dump, check_dump_file, write_dump
from .tta import flip_tta_pipeline, use_tta

__all__ = [
    'DUMP_FORMATS',
    'DumpPredictions',
    'add_prediction_dump',
    'check_dump_file',
    'flip_tta_pipeline',
    'use_tta',
    'write_dump',
]
