"""Predictions for people (the console) and for programs (JSON)."""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np

from se_plugin.runtime.atomic import atomic_write_text

__all__ = ['PREDICTION_KEYS', 'format_predictions', 'predictions_json', 'write_predictions']

#: per image: the path, then the keys of mmpretrain's ImageClassificationInferencer
PREDICTION_KEYS = ('image', 'pred_label', 'pred_score', 'pred_scores', 'pred_class')


def format_predictions(results: Sequence[dict]) -> str:
    """Each image's path, then one line per top-k class: probability, label, name.

    Args:
        results (Sequence[dict]): :func:`~se_plugin.apis.inference_model`'s results.

    Returns:
        str: The text, one block per image.

    Example:
        >>> result = dict(image='a.png', topk=[dict(label=3, score=0.9712, **{'class': 'three'}),
        ...                                    dict(label=10, score=0.012, **{'class': None})])
        >>> print(format_predictions([result]))
        a.png
           97.12%   3  three
            1.20%  10
    """
    blocks = []
    for result in results:
        width = max(len(str(top['label'])) for top in result['topk'])
        lines = [str(result['image'] if result['image'] is not None else '(array)')]
        for top in result['topk']:
            line = f'  {100 * top["score"]:6.2f}%  {top["label"]:>{width}}'
            lines.append(line + (f'  {top["class"]}' if top['class'] is not None else ''))
        blocks.append('\n'.join(lines))
    return '\n'.join(blocks)


def predictions_json(results: Sequence[dict]) -> list:
    """The results as JSON values: :data:`PREDICTION_KEYS`, probabilities as lists."""
    return [
        {
            key: (r[key].tolist() if isinstance(r[key], np.ndarray) else r[key])
            for key in PREDICTION_KEYS
        }
        for r in results
    ]


def write_predictions(results: Sequence[dict], path: str) -> None:
    """Write :func:`predictions_json` to ``path`` atomically (never half-written)."""
    atomic_write_text(json.dumps(predictions_json(results), indent=1) + '\n', path)
