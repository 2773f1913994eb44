"""The worker: one run of a sweep (train, then test the last checkpoint), in this process.

``python -m se_plugin.sweep.worker --point RUN_DIR`` does what
``tools/train.py`` then ``tools/test.py`` do, through :mod:`se_plugin.cli`
(``prepare_train_config`` / ``build_runner``, then ``prepare_test_config`` on
the last checkpoint), for the run that ``RUN_DIR/point.json`` describes.
Training and test share the process, so a run pays the import time once. A
:class:`~se_plugin.sweep.progress.ProgressHook` on both runners writes
``RUN_DIR/progress.jsonl`` for the launcher; ``result.json`` is written
atomically at the very end.
"""

from __future__ import annotations

import argparse
import json
import os.path as osp
import time
from collections.abc import Sequence
from typing import Optional

from se_plugin.runtime.atomic import atomic_write_text
from se_plugin.runtime.errors import ConfigError

from .progress import PROGRESS_FILE, ProgressHook
from .records import POINT_FILE, RESULT_FILE, config_digest, decode, json_text, read_json


def _read_spec(run_dir: str) -> tuple:
    """``(spec, options)`` of the run, checked against the config file as it is now."""
    from se_plugin.cli.config import load_config

    spec = read_json(osp.join(run_dir, POINT_FILE))
    if spec is None:
        raise FileNotFoundError(f'no readable {POINT_FILE} in {run_dir}')
    options = decode(spec['options'])
    if config_digest(load_config(spec['config'], options)) != spec['config_digest']:
        raise ConfigError(
            f'{spec["config"]} (or a file it inherits) changed since this sweep was planned; '
            'start the sweep again (a finished run keeps its result)'
        )
    return spec, options


def _timed(cfg, run_dir: str, phase: str) -> tuple:
    """Build the runner of ``cfg``, run ``phase`` ('train' or 'test'): (output, seconds)."""
    from se_plugin.cli.run import build_runner

    runner = build_runner(cfg)
    runner.register_hook(ProgressHook(osp.join(run_dir, PROGRESS_FILE)))
    start = time.monotonic()
    output = getattr(runner, phase)()
    return output, time.monotonic() - start


def run_point(run_dir: str) -> dict:
    """Train and test the run described by ``run_dir/point.json`` (in this process).

    Training resumes from the run dir's last checkpoint if there is one.
    ``result.json`` is written atomically at the very end.

    Args:
        run_dir (str): The run's dir (it holds ``point.json``).

    Returns:
        dict: The result (also in ``result.json``): spec, metrics, checkpoint,
        train_s, test_s, resumed, finished.
    """
    from se_plugin.cli.config import prepare_test_config, prepare_train_config

    spec, options = _read_spec(run_dir)
    # resume only what this dir started: a fresh run keeps the config's load_from
    resumed = osp.exists(osp.join(run_dir, 'last_checkpoint'))
    cfg = prepare_train_config(
        spec['config'],
        work_dir=run_dir,
        resume='auto' if resumed else None,
        no_validate=not spec['validate'],
        cfg_options=options,
    )
    cfg.randomness = dict(cfg.get('randomness') or {}, seed=spec['seed'])
    _, train_s = _timed(cfg, run_dir, 'train')
    with open(osp.join(run_dir, 'last_checkpoint')) as f:
        checkpoint = f.read().strip()
    test_cfg = prepare_test_config(
        spec['config'], checkpoint, work_dir=osp.join(run_dir, 'test'), cfg_options=options
    )
    metrics, test_s = _timed(test_cfg, run_dir, 'test')
    result = {
        'spec': spec,
        'metrics': {
            k: float(v) if isinstance(v, (int, float)) else str(v) for k, v in metrics.items()
        },
        'checkpoint': checkpoint,
        'train_s': train_s,
        'test_s': test_s,
        'resumed': resumed,
        'finished': time.strftime('%Y-%m-%d %H:%M:%S'),
    }
    atomic_write_text(json_text(result), osp.join(run_dir, RESULT_FILE))
    return result


def main(argv: Optional[Sequence[str]] = None) -> None:
    """``python -m se_plugin.sweep.worker --point RUN_DIR``."""
    from se_plugin.cli.entry import run_cli

    parser = argparse.ArgumentParser(description='One run of an ablation sweep.')
    parser.add_argument('--point', required=True, help='the run dir (holds point.json)')
    args = parser.parse_args(argv)

    def run():
        import se_plugin  # noqa: F401  (registries, safe checkpoint loading)

        result = run_point(args.point)
        print(f'result: {json.dumps(result["metrics"])}')

    run_cli(run)


__all__ = ['main', 'run_point']

if __name__ == '__main__':
    main()
