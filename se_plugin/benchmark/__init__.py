"""Speed of models relative to a baseline, measured in one process.

What ``tools/benchmark.py`` does, as functions. A model is named by a spec:

* ``se_plugin.SEResNet:depth=50`` / ``mmpretrain.SEResNet:depth=50``: a
  registered backbone (``key=value`` pairs after ``:``, comma-separated,
  values read as ``--cfg-options`` reads them (:mod:`se_plugin.cli.values`),
  dotted keys for nested dicts such as ``attn_cfg.impl='reference'``), wrapped
  in an ImageClassifier with global average pooling and a linear head; a
  registered classifier is used as it is;
* ``torchvision.resnet50`` (a ``torchvision.models`` builder, same ``:k=v``);
* ``timm.seresnet50`` (``timm.create_model``; timm is optional);
* a config file path (``configs/se_resnet50_imagenet.py``, with the same
  ``:k=v`` overrides, relative to the config's ``model``): its ``model`` is
  built.

Every model is run as ``images -> logits`` on random input (no data
preprocessor). A *train step* is forward, cross-entropy, backward and an SGD
(momentum) step; *inference* is a forward pass under ``torch.inference_mode``.
After warm-up, the models are timed round-robin (A B C A B C ...), so slow
drifts of a shared machine hit all of them alike; each is summarised by its
median, and its ratio to the baseline three ways: the ratio of medians, the
median of the per-round ratios (``paired``) and the ratio of the fastest
rounds (``min``, the least disturbed ones when other jobs share the machine).
For eager train steps it also reports the activation memory autograd keeps
for the backward (:func:`saved_activation_bytes`), an exact count.

Timers: ``wall`` (default) is elapsed time. ``cpu`` is the process's CPU
time, for a single-threaded CPU run on a machine shared with other jobs:
time spent descheduled does not count (cache and memory-bandwidth contention
still do).
"""

from __future__ import annotations

from .memory import saved_activation_bytes
from .models import LogitsModel, available, build_model, parse_spec
from .options import MODES, Options, Result
from .report import describe, environment, markdown_table, save_json
from .steps import make_step
from .timing import MIN_ROUNDS, TIMERS, run_benchmark, too_few_rounds

__all__ = [
    'MIN_ROUNDS',
    'MODES',
    'TIMERS',
    'LogitsModel',
    'Options',
    'Result',
    'available',
    'build_model',
    'describe',
    'environment',
    'make_step',
    'markdown_table',
    'parse_spec',
    'run_benchmark',
    'saved_activation_bytes',
    'save_json',
    'too_few_rounds',
]
