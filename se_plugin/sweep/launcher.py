"""Launching: one worker process per run, followed through its progress file.

Each run is one Python subprocess (``python -m se_plugin.sweep.worker --point
DIR``). A process per run, rather than runners in this process, keeps runs
apart from mmengine's process-wide state (``ManagerMixin`` instances such as
the message hub and visualizer, the default scope, seeding, torch threads,
logging handlers), frees all memory between runs, and lets a crash or an
out-of-memory kill fail one run without taking the sweep down. The worker's
output goes to ``ablate.log`` in its run dir; its progress is read from the
structured ``progress.jsonl`` (:mod:`se_plugin.sweep.progress`), not from the
log. SIGTERM to the sweep stops the running worker too; SIGKILL does as well
(the worker dies with its parent, :func:`~se_plugin.sweep.worker.die_with_parent`).

Locks (:mod:`se_plugin.runtime.workdir_lock`): the sweep holds its work dir's
lock while it runs, so a second sweep in the same work dir is refused; each
worker holds its run dir's lock, and the sweep checks that lock before it
starts a run, so a run dir that another process is training in (a
``tools/train.py`` there) ends the sweep with one line naming that process.
"""

from __future__ import annotations

import contextlib
import os
import os.path as osp
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from typing import IO, Optional

from se_plugin.runtime.atomic import atomic_write_text
from se_plugin.runtime.workdir_lock import lock_work_dir

from .plan import Plan, Run, finished_result
from .progress import (
    PROGRESS_FILE,
    TRAIN_SHARE,
    Progress,
    ProgressReader,
    hms,
    progress_status,
)
from .records import (
    LOG_FILE,
    POINT_FILE,
    RESULT_FILE,
    SWEEP_FILE,
    describe,
    encode,
    json_text,
    read_json,
)
from .report import DEFAULT_METRIC, format_value, write_outputs
from .worker import LOCK_WAIT_S

WORKER = 'se_plugin.sweep.worker'
POLL_S = 0.5  # how often the progress file is read while a worker runs
SHOW_EVERY_S = 2.0  # least time between two progress lines of a run


class RunFailed(RuntimeError):
    """A run of the sweep ended with an error."""


def _worker_env() -> dict:
    env = dict(os.environ)
    root = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
    env['PYTHONPATH'] = os.pathsep.join(filter(None, [root, env.get('PYTHONPATH')]))
    env['PYTHONUNBUFFERED'] = '1'
    return env


def _copy_output(proc: subprocess.Popen, log: IO[str], tail: list) -> None:
    """Copy the worker's output to its log; keep the last lines in ``tail``."""
    assert proc.stdout is not None
    for line in proc.stdout:
        log.write(line)
        tail[:] = (tail + [line.rstrip()])[-8:]


class _Follower:
    """Shows a run's progress records (at most one line per ``SHOW_EVERY_S``)."""

    def __init__(self, run: Run, length: tuple, progress: Progress, index: int) -> None:
        self.reader = ProgressReader(osp.join(run.work_dir, PROGRESS_FILE))
        self.run, self.length, self.progress, self.index = run, length, progress, index
        self.last_shown = 0.0

    def update(self) -> None:
        for record in self.reader.read():
            status = progress_status(record, self.length)
            if status is None:
                continue
            self.progress.partial = status[0]
            now = time.monotonic()
            if now - self.last_shown >= SHOW_EVERY_S or status[0] >= TRAIN_SHARE:
                self.progress.say(self.index, self.run, status[1])
                self.last_shown = now


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _supervise(command: list, log: IO[str], follower: _Follower) -> tuple:
    """Run ``command`` to its end: ``(exit code, last lines of its output)``."""
    proc = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
        env=_worker_env(),
    )
    tail: list = []
    copier = threading.Thread(target=_copy_output, args=(proc, log, tail), daemon=True)
    copier.start()
    try:
        while True:
            try:
                code = proc.wait(timeout=POLL_S)
                break
            except subprocess.TimeoutExpired:
                follower.update()
        copier.join()
        follower.update()
    finally:
        _stop(proc)
    return code, tail


def launch(
    run: Run,
    length: tuple,
    progress: Progress,
    index: int,
    python: str = sys.executable,
) -> dict:
    """Run one training + test in a subprocess; its result dict.

    Args:
        run (Run): The run (its ``point.json`` is written first).
        length (tuple): ``('epoch', max_epochs)`` or ``('iter', max_iters)``.
        progress (Progress): Where its progress is shown.
        index (int): The run's number in the plan (1-based).
        python (str): The Python that runs the worker. Default: this one.

    Raises :class:`RunFailed` if the worker fails or writes no result.
    """
    os.makedirs(run.work_dir, exist_ok=True)
    atomic_write_text(json_text(run.spec), osp.join(run.work_dir, POINT_FILE))
    log_path = osp.join(run.work_dir, LOG_FILE)
    command = [python, '-m', WORKER, '--point', run.work_dir, '--parent-pid', str(os.getpid())]
    follower = _Follower(run, length, progress, index)
    with open(log_path, 'a') as log:
        log.write(f'\n===== {time.strftime("%Y-%m-%d %H:%M:%S")} {" ".join(command)}\n')
        log.flush()
        code, tail = _supervise(command, log, follower)
    result = read_json(osp.join(run.work_dir, RESULT_FILE))
    if code != 0 or result is None:
        last = next((t for t in reversed(tail) if t.strip()), '')
        raise RunFailed(
            f'{run.label} failed (exit code {code}): {last.strip()[:300]} -- full log: {log_path}'
        )
    return result


@contextlib.contextmanager
def _sigterm_interrupts():
    """SIGTERM raises KeyboardInterrupt, so a killed sweep also stops its running worker."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _announce(plan: Plan, done: int, stream: IO[str], command: Optional[str]) -> None:
    """Write ``sweep.json`` and print what the sweep will do."""
    os.makedirs(plan.work_dir, exist_ok=True)
    invocation = {
        'config': plan.config,
        'axes': [{'key': a.key, 'values': encode(a.values)} for a in plan.axes],
        'seeds': list(plan.seeds),
        'options': encode(plan.options),
        'command': command,
    }
    atomic_write_text(json_text(invocation), osp.join(plan.work_dir, SWEEP_FILE))
    print(
        f'ablate {plan.config}: {len(plan.points)} point(s) x {len(plan.seeds)} seed(s) = '
        f'{len(plan.runs)} run(s), {done} already done -> {plan.work_dir}',
        file=stream,
        flush=True,
    )
    for note in plan.notes:
        print(f'  {note}', file=stream)
    for point in plan.points:
        params, flops = plan.complexity[point.name]
        sets = ' '.join(f'{k}={describe(v)}' for k, v in point.options.items()) or '(config)'
        flops_text = '' if flops is None else f', {flops / 1e9:.4g} GFLOPs'
        print(f'  {point.name}: {sets} ({params / 1e6:.4g}M params{flops_text})', file=stream)


def _run_one(plan: Plan, index: int, run: Run, progress: Progress, python: str) -> dict:
    """Launch one run; the progress counts it as finished either way.

    Raises :class:`~se_plugin.runtime.errors.WorkDirLockedError` (not a failed
    run: the sweep stops) when another process holds the run dir's lock.
    """
    with lock_work_dir(run.work_dir, 'tools/ablate.py', wait_s=LOCK_WAIT_S):
        pass  # free now; the worker takes it for the run
    resuming = osp.exists(osp.join(run.work_dir, 'last_checkpoint'))
    progress.say(index, run, 'resuming from its last checkpoint' if resuming else 'start')
    progress.partial = 0.0
    try:
        return launch(run, plan.train_length[run.point.name], progress, index, python)
    finally:
        progress.partial, progress.finished = 0.0, progress.finished + 1


def execute(
    plan: Plan,
    metric: str = DEFAULT_METRIC,
    stream: IO[str] = sys.stdout,
    keep_going: bool = False,
    command: Optional[str] = None,
    python: str = sys.executable,
) -> dict:
    """Run (or skip) every run of the plan and write the aggregates.

    Finished runs (a ``result.json`` with the same settings) are skipped; the
    aggregates are rewritten after every run, the plot at the end. Raises
    :class:`RunFailed` at the first failed run unless ``keep_going``.

    Returns ``{'results': {run label: result}, 'failed': [messages], 'files': [...]}``.
    """
    with lock_work_dir(plan.work_dir, 'tools/ablate.py'):
        return _execute(plan, metric, stream, keep_going, command, python)


def _execute(plan, metric, stream, keep_going, command, python) -> dict:
    results = {run.label: finished_result(run) for run in plan.runs}
    results = {label: result for label, result in results.items() if result is not None}
    _announce(plan, len(results), stream, command)
    progress = Progress(len(plan.runs), len(plan.runs) - len(results), stream)
    failed = []
    with _sigterm_interrupts():
        for index, run in enumerate(plan.runs, 1):
            if run.label in results:
                value = format_value(results[run.label]['metrics'].get(metric))
                progress.say(index, run, f'done before ({metric} {value}), skipped', False)
                continue
            try:
                result = _run_one(plan, index, run, progress, python)
            except RunFailed as err:
                if not keep_going:
                    write_outputs(plan, results, metric, command)
                    raise
                failed.append(str(err))
                progress.say(index, run, f'FAILED: {err}')
                continue
            results[run.label] = result
            _say_result(progress, index, run, result, metric)
            write_outputs(plan, results, metric, command)
    files = write_outputs(plan, results, metric, command, plot=True)
    return {'results': results, 'failed': failed, 'files': files}


def _say_result(progress: Progress, index: int, run: Run, result: Mapping, metric: str) -> None:
    timing = f'train {hms(result["train_s"])}, test {hms(result["test_s"])}'
    progress.say(index, run, f'{metric} {format_value(result["metrics"].get(metric))} ({timing})')


def run_sweep(
    config: str,
    metric: str = DEFAULT_METRIC,
    keep_going: bool = False,
    dry_run: bool = False,
    command: Optional[str] = None,
    stream: Optional[IO[str]] = None,
    **plan_args,
) -> int:
    """What ``tools/ablate.py`` does: plan, then list (``dry_run``) or execute and report.

    Args:
        config (str): The config file.
        metric (str): The test metric to tabulate. Default: 'accuracy/top1'.
        keep_going (bool): Go on after a failed run. Default: False.
        dry_run (bool): Only check the sweep and list its runs. Default: False.
        command (str, optional): The command line, shown in ``results.md``.
            Default: None.
        stream (IO[str], optional): Where the output goes. Default: None
            (``sys.stdout``).
        **plan_args: The other arguments of :func:`~se_plugin.sweep.plan.plan_sweep`.

    Returns:
        int: The exit code: 0, or 1 if a run failed (its error is on stderr).
    """
    from .plan import plan_sweep

    stream = stream or sys.stdout
    plan = plan_sweep(config, **plan_args)
    if dry_run:
        for note in plan.notes:
            print(note, file=stream)
        for run in plan.runs:
            print(f'{run.label}: {run.work_dir}', file=stream)
        return 0
    try:
        outcome = execute(plan, metric, stream=stream, keep_going=keep_going, command=command)
    except RunFailed as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    print(f'results: {", ".join(outcome["files"])}', file=stream)
    with open(osp.join(plan.work_dir, 'results.md')) as f:
        print(f.read(), end='', file=stream)
    for message in outcome['failed']:
        print(f'error: {message}', file=sys.stderr)
    return 1 if outcome['failed'] else 0


__all__ = ['RunFailed', 'execute', 'launch', 'run_sweep']
