"""``tools/test.py --out``: every prediction of a test run, written to one file."""

from __future__ import annotations

import json
import os.path as osp
from collections.abc import Mapping, Sequence
from typing import Any, Optional

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.fileio import dump
from mmengine.logging import print_log
from mmengine.structures import BaseDataElement

from se_plugin.registry import METRICS
from se_plugin.runtime.atomic import atomic_open, atomic_write_text

__all__ = [
    'DUMP_FORMATS',
    'DumpPredictions',
    'add_prediction_dump',
    'check_dump_file',
    'write_dump',
]

#: ``.pkl`` / ``.pickle``: mmengine's ``DumpResults`` format; ``.json``: plain values
DUMP_FORMATS = ('.pkl', '.pickle', '.json')


def check_dump_file(path: Any) -> str:
    """Return ``path`` if its extension is one of :data:`DUMP_FORMATS`, else ValueError."""
    if not isinstance(path, str) or not path.lower().endswith(DUMP_FORMATS):
        raise ValueError(f'--out must end with {", ".join(DUMP_FORMATS)}; got {path!r}')
    return path


def _cpu(data: Any) -> Any:
    if isinstance(data, (torch.Tensor, BaseDataElement)):
        return data.to('cpu')
    if isinstance(data, (list, tuple)):
        return type(data)(_cpu(d) for d in data)
    if isinstance(data, dict):
        return {k: _cpu(v) for k, v in data.items()}
    return data


def _plain(data: Any) -> Any:
    """Tensors and arrays as lists, recursively (what JSON can hold)."""
    if isinstance(data, (torch.Tensor, np.ndarray)):
        return data.tolist()
    if isinstance(data, np.generic):
        return data.item()
    if isinstance(data, (list, tuple)):
        return [_plain(d) for d in data]
    if isinstance(data, dict):
        return {str(k): _plain(v) for k, v in data.items()}
    return data


def write_dump(obj: Any, path: str) -> None:
    """Write ``obj`` to ``path`` atomically: pickled (mmengine's ``dump``) for
    ``.pkl`` / ``.pickle``, as JSON (tensors and arrays as lists) for ``.json``."""
    if check_dump_file(path).lower().endswith('.json'):
        atomic_write_text(json.dumps(_plain(obj)) + '\n', path)
    else:
        with atomic_open(path) as f:
            dump(obj, f, file_format='pkl')


def add_prediction_dump(cfg: Any, out_file: str) -> None:
    """Add a :class:`DumpPredictions` writing ``out_file`` to ``cfg.test_evaluator``."""
    dumper = dict(type='se_plugin.DumpPredictions', out_file=check_dump_file(out_file))
    evaluator = cfg.test_evaluator
    if isinstance(evaluator, Mapping) and 'metrics' in evaluator:  # dict(type='Evaluator', ...)
        metrics = evaluator['metrics']
        metrics = list(metrics) if isinstance(metrics, (list, tuple)) else [metrics]
        evaluator['metrics'] = [*metrics, dumper]
    else:
        metrics = list(evaluator) if isinstance(evaluator, (list, tuple)) else [evaluator]
        cfg.test_evaluator = [*metrics, dumper]


@METRICS.register_module()
class DumpPredictions(BaseMetric):
    """Write every test sample's prediction to a file when the test ends.

    mmpretrain's ``tools/test.py --out`` (mmengine's ``DumpResults``): a
    ``.pkl`` file holds the list of the data samples as dicts (``pred_score``,
    ``pred_label``, ``gt_label``, ``img_path``, ... on the CPU), loadable with
    ``mmengine.load``; ``.json`` holds the same with tensors as lists. The file
    is written atomically (never half-written); in a distributed run, rank 0
    writes all ranks' samples. It adds no metric.

    Args:
        out_file (str): The output file (:data:`DUMP_FORMATS`).
        collect_device (str): Where ranks' results are gathered, ``'cpu'`` or
            ``'gpu'``. Default: 'cpu'.
        collect_dir (str, optional): Folder for gathering on the CPU. Default: None.

    Example:
        >>> import os, tempfile, mmengine
        >>> path = os.path.join(tempfile.mkdtemp(), 'preds.pkl')
        >>> metric = DumpPredictions(path)
        >>> metric.process({}, [dict(pred_label=torch.tensor([3]))])
        >>> metric.compute_metrics(metric.results)
        {}
        >>> mmengine.load(path)
        [{'pred_label': tensor([3])}]
    """

    def __init__(
        self, out_file: str, collect_device: str = 'cpu', collect_dir: Optional[str] = None
    ) -> None:
        super().__init__(collect_device=collect_device, collect_dir=collect_dir)
        self.out_file = check_dump_file(out_file)

    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
        self.results.extend(_cpu(list(data_samples)))

    def compute_metrics(self, results: list) -> dict:
        write_dump(results, self.out_file)
        print_log(
            f'{len(results)} predictions written to {osp.abspath(self.out_file)}',
            logger='current',
        )
        return {}
