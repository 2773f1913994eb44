"""The tools under a distributed launcher: one voice for the whole job.

``python -m se_plugin.cli.launch [torchrun options] TOOL [tool options]`` is
torchrun (``torch.distributed.run``, same options) as ``tools/dist_train.sh``
and ``tools/dist_test.sh`` start it, with three differences:

* a user error (config, data, checkpoint, arguments: what a tool ends with
  one line and exit code 2) is one line for the whole job and exit code 2: the
  workers write their line to a folder the launcher gives them
  (``SE_PLUGIN_ERROR_DIR``) instead of printing it, and the launcher prints
  the lowest failing rank's line once, without torchrun's ``ChildFailedError``
  traceback and failure table. The decision rests on the workers' exit codes:
  when a worker failed otherwise (a bug), torchrun's report is shown as
  torchrun shows it, traceback included;
* more processes than CPU cores on a machine without CUDA is one warning line;
* ``OMP_NUM_THREADS`` and ``MKL_NUM_THREADS`` are set to 1 when unset (what
  torchrun and mmengine set them to) without their banner and warnings.

The workers speak through rank 0 (:func:`quiet_other_ranks`, called by
:func:`~se_plugin.cli.entry.run_cli`): on the other ranks standard output
(progress, results) is discarded, and so are Python warnings and log lines
below ERROR; errors and the tracebacks of bugs still come from every rank.

Exit codes are the only channel between the workers and the launcher, so
nothing depends on a worker exiting cleanly: a rank that fails is seen by
torchrun at once, which stops the others (no rank waits for a peer that
already left).

This module imports torch only when the launcher runs (its functions for the
workers are plain Python).
"""

from __future__ import annotations

import glob
import logging
import os
import os.path as osp
import sys
import tempfile
import warnings
from typing import Optional

from .parser import EXIT_USER_ERROR

__all__ = [
    'ERROR_DIR_ENV',
    'launch_rank',
    'main',
    'quiet_other_ranks',
    'report_user_error',
]

ERROR_DIR_ENV = 'SE_PLUGIN_ERROR_DIR'

# where launchers put the global rank of a worker, before any process group exists
_RANK_ENV = ('RANK', 'SLURM_PROCID', 'OMPI_COMM_WORLD_RANK', 'PMI_RANK')


def launch_rank() -> int:
    """This process's global rank as its launcher set it (0 when not launched).

    Example:
        >>> import os
        >>> os.environ.pop('RANK', None) and None
        >>> launch_rank()
        0
    """
    for name in _RANK_ENV:
        value = os.environ.get(name, '').strip()
        if value.isdigit():
            return int(value)
    return 0


def quiet_other_ranks() -> None:
    """On ranks other than 0: no standard output, no Python warnings, no log
    lines below ERROR (rank 0 says what every rank would say; errors and the
    tracebacks of bugs, on standard error, still come from every rank)."""
    if launch_rank() != 0:
        sys.stdout = open(os.devnull, 'w')  # noqa: SIM115  (for the rest of the process)
        warnings.simplefilter('ignore')
        logging.disable(logging.WARNING)


def report_user_error(line: str) -> None:
    """Tell the user ``line`` (one line, ``error: ...``): on stderr, or, under
    :func:`main`'s launcher, in the error folder for the launcher to print once."""
    folder = os.environ.get(ERROR_DIR_ENV)
    if folder and osp.isdir(folder):
        with open(osp.join(folder, f'rank{launch_rank()}.txt'), 'w', encoding='utf-8') as f:
            f.write(line)
        return
    print(line, file=sys.stderr)


def _cpu_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()


def _warn_oversubscribed(nprocs: int) -> None:
    import torch

    cores = _cpu_cores()
    if not torch.cuda.is_available() and nprocs > cores:
        print(
            f'warning: {nprocs} processes on {cores} CPU core(s) without CUDA: they share '
            f'the cores and run slower than {cores} would (NUM_PROCS <= {cores})',
            file=sys.stderr,
        )


def _user_error(failures: dict, folder: str) -> Optional[str]:
    """The line to print when every failure is a user error (exit 2 with a line),
    apart from the workers torchrun then stopped; None when a worker had a bug."""
    lines = {}
    for path in glob.glob(osp.join(folder, 'rank*.txt')):
        with open(path, encoding='utf-8') as f:
            lines[int(osp.basename(path)[4:-4])] = f.read().strip()
    codes = [failure.exitcode for failure in failures.values()]
    if not lines or EXIT_USER_ERROR not in codes:
        return None
    if any(code != EXIT_USER_ERROR and code >= 0 for code in codes):
        return None  # a worker failed otherwise: a bug
    return lines[min(lines)]


class _Held(logging.Handler):
    """Holds torchrun's log records until it is known whether they are wanted."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def main(argv: Optional[list] = None) -> int:
    """torchrun with the differences of the module docstring; the exit code."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import determine_local_world_size, parse_args, run

    args = parse_args(argv)
    _warn_oversubscribed(determine_local_world_size(args.nproc_per_node))
    for threads in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS'):
        os.environ.setdefault(threads, '1')
    # torchrun logs through 'torch.distributed' (torch attaches its handler there)
    torch_logger, held = logging.getLogger('torch.distributed'), _Held()
    handlers, torch_logger.handlers = torch_logger.handlers, [held]
    with tempfile.TemporaryDirectory(prefix='se_plugin_errors_') as folder:
        os.environ[ERROR_DIR_ENV] = folder
        try:
            run(args)
        except ChildFailedError as err:
            line = _user_error(err.failures, folder)
            if line is None:  # a bug: torchrun's report as torchrun shows it
                torch_logger.handlers = handlers
                for record in held.records:
                    torch_logger.handle(record)
                raise
            print(line, file=sys.stderr)
            return EXIT_USER_ERROR
        finally:
            torch_logger.handlers = handlers
    return 0


if __name__ == '__main__':
    sys.exit(main())
