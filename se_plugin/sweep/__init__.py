"""Ablation sweeps: a real train + test for every grid point and seed, aggregated.

What ``tools/ablate.py`` does::

    python tools/ablate.py configs/quickstart/se_resnet18_mnist5k.py \\
        --sweep model.backbone.attn_cfg.ratio=2,4,8,16,32 --seeds 0 1 2 \\
        --max-epochs 3 --work-dir work_dirs/ablate_ratio

One module per step:

* :mod:`~se_plugin.sweep.spec`: ``--sweep KEY=V1,V2,...`` specs, the grid of
  points they span and its point names. Several ``--sweep`` give the full grid,
  in the order given; none gives the config alone (useful with ``--seeds``).
  Values may be strings, e.g. attention types:
  ``--sweep model.backbone.attn_cfg.type=se_plugin.SELayer,mmpretrain.SELayer``.
* ``--max-epochs N``: ``train_cfg.max_epochs`` and the parameter schedule
  scaled to N epochs, as ``tools/train.py --max-epochs`` does
  (:func:`se_plugin.cli.schedule.scale_schedule`).
* :mod:`~se_plugin.sweep.plan`: every check up front (errors end the tool with
  one line, exit 2), every point's model built once (params, FLOPs), the runs
  laid out in ``WORK/<point>/seed<k>/``.
* :mod:`~se_plugin.sweep.launcher`: one worker process per run, SIGTERM
  handling, resuming (a rerun skips runs that have a ``result.json`` and
  restarts the others with ``resume='auto'``).
* :mod:`~se_plugin.sweep.progress`: the worker's structured progress channel
  (JSON lines in ``progress.jsonl``) and the ``[i/N] ... | ETA`` lines.
* :mod:`~se_plugin.sweep.worker`: one run, train then test
  (``python -m se_plugin.sweep.worker --point DIR``).
* :mod:`~se_plugin.sweep.report`: ``results.csv``/``.md``/``.png`` and
  ``runs.csv``; every run is scored by a test of its last checkpoint
  (``--metric``, default ``accuracy/top1``).
* :mod:`~se_plugin.sweep.records`: the layout of ``WORK`` and its JSON files.
"""

from se_plugin.lazy import lazy_attributes

# names are loaded on first use: ``tools/ablate.py --help`` imports no torch
__all__, __getattr__, __dir__ = lazy_attributes(
    __name__,
    {
        'se_plugin.cli.values': ('parse_value', 'split_values'),
        'launcher': ('RunFailed', 'execute', 'run_sweep'),
        'plan': ('Plan', 'Run', 'plan_sweep'),
        'records': ('decode', 'encode'),
        'report': ('DEFAULT_METRIC', 'aggregate', 'markdown', 'plot_results', 'read_baseline'),
        'spec': ('Axis', 'Point', 'SweepError', 'grid', 'parse_sweep', 'parse_sweeps', 'slug'),
        'worker': ('run_point',),
    },
)
