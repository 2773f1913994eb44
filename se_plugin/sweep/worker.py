"""The worker: one run of a sweep (train, then test the last checkpoint), in this process.

``python -m se_plugin.sweep.worker --point RUN_DIR`` does what
``tools/train.py`` then ``tools/test.py`` do, through :mod:`se_plugin.cli`
(``prepare_train_config`` / ``build_runner``, then ``prepare_test_config`` on
the last checkpoint), for the run that ``RUN_DIR/point.json`` describes.
Training and test share the process, so a run pays the import time once. A
:class:`~se_plugin.sweep.progress.ProgressHook` on both runners writes
``RUN_DIR/progress.jsonl`` for the launcher; ``result.json`` is written
atomically at the very end.

A worker holds its run dir's lock
(:func:`~se_plugin.runtime.workdir_lock.lock_work_dir`) for the whole run,
and dies with the sweep that started it (``--parent-pid``,
:func:`die_with_parent`): a sweep killed with ``kill -9`` leaves no worker
training on behind it, and a rerun finds the run dir free.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import os.path as osp
import signal
import sys
import threading
import time
from collections.abc import Sequence
from typing import Optional

from se_plugin.runtime.atomic import atomic_write_text
from se_plugin.runtime.errors import ConfigError
from se_plugin.runtime.workdir_lock import lock_work_dir

from .progress import PROGRESS_FILE, ProgressHook
from .records import POINT_FILE, RESULT_FILE, config_digest, decode, json_text, read_json

# how long a worker waits for its run dir's lock: a worker of a killed sweep
# gets SIGKILL from the kernel, but may take a moment to let go of its files
LOCK_WAIT_S = 10.0
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
WATCH_S = 1.0  # how often the portable watchdog looks for the parent


def die_with_parent(parent_pid: int) -> None:
    """End this process (SIGKILL) as soon as ``parent_pid``, its parent, is gone.

    On Linux the kernel sends the signal (``prctl(PR_SET_PDEATHSIG)``, set
    here, in the child, and checked against a parent that died before it
    was set); elsewhere a daemon thread polls ``os.getppid()`` every
    :data:`WATCH_S` seconds. SIGKILL, not SIGTERM: everything a run writes
    is atomic, and a resumed run continues from its last checkpoint.

    Args:
        parent_pid (int): The pid of the process that started this one.
    """
    if sys.platform.startswith('linux'):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), 'prctl(PR_SET_PDEATHSIG) failed')
    else:

        def watch() -> None:
            while os.getppid() == parent_pid:
                time.sleep(WATCH_S)
            os.kill(os.getpid(), signal.SIGKILL)

        threading.Thread(target=watch, name='die-with-parent', daemon=True).start()
    if os.getppid() != parent_pid:  # the parent died before the signal was armed
        os.kill(os.getpid(), signal.SIGKILL)


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
    ``result.json`` is written atomically at the very end. The run dir is
    locked meanwhile (waiting up to :data:`LOCK_WAIT_S` for a dying holder).

    Args:
        run_dir (str): The run's dir (it holds ``point.json``).

    Returns:
        dict: The result (also in ``result.json``): spec, metrics, checkpoint,
        train_s, test_s, resumed, finished.
    """
    with lock_work_dir(run_dir, 'tools/ablate.py worker', wait_s=LOCK_WAIT_S):
        return _run_point(run_dir)


def _run_point(run_dir: str) -> dict:
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
    parser.add_argument(
        '--parent-pid', type=int, help='end this worker when that process (the sweep) ends'
    )
    args = parser.parse_args(argv)
    if args.parent_pid is not None:
        die_with_parent(args.parent_pid)

    def run():
        import se_plugin  # noqa: F401  (registries, safe checkpoint loading)

        result = run_point(args.point)
        print(f'result: {json.dumps(result["metrics"])}')

    run_cli(run)


__all__ = ['LOCK_WAIT_S', 'die_with_parent', 'main', 'run_point']

if __name__ == '__main__':
    main()
