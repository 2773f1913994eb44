"""Progress of a run as a structured channel: the worker writes it, the launcher reads it.

The worker registers a :class:`ProgressHook` on its runners; the hook appends
one JSON object per line to ``<run dir>/progress.jsonl``: during training
``{"phase": "train", "epoch", "max_epochs", "iter", "max_iters", "batch",
"batches", "loss", "eta_s", "time"}`` (1-based counters; ``eta_s`` is the
rest of this run's training at the pace of this process), during the test
``{"phase": "test", "batch", "batches", "time"}``. Each record is one line
written with one call on a line-buffered file opened for appending, so a reader
sees whole lines only; :class:`ProgressReader` follows the file from where it
was when the run started (an earlier, interrupted try of the same run is not
shown again) and skips a line that is not a JSON object (the end of a try that
was killed mid-write). :func:`progress_status` turns a record into the
launcher's ``(fraction of the run done, short text)``; :class:`Progress`
prints ``[i/N] point/seed: ... | elapsed | ETA`` lines.
"""

from __future__ import annotations

import json
import os
import time
from typing import IO, Any, Optional

from mmengine.hooks import Hook

PROGRESS_FILE = 'progress.jsonl'
TRAIN_SHARE = 0.97  # the part of a run's time that training takes (the test: the rest)


def hms(seconds: float) -> str:
    """A duration as ``1h02m03s``, ``2m03s`` or ``3s``.

    >>> hms(3723), hms(123), hms(3.4)
    ('1h02m03s', '2m03s', '3s')
    """
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f'{hours}h{minutes:02d}m{secs:02d}s'
    return f'{minutes}m{secs:02d}s' if minutes else f'{secs}s'


class ProgressHook(Hook):
    """Append a JSON line per iteration (at most one per ``min_interval_s``) to ``path``.

    The first and the last iteration of every epoch, and of the test, are
    always written.

    Args:
        path (str): The progress file (appended to).
        min_interval_s (float): Least time between two records of the same
            phase. Default: 1.0.

    Example:
        >>> import os, tempfile
        >>> hook = ProgressHook(os.path.join(tempfile.mkdtemp(), PROGRESS_FILE))
        >>> hook.priority
        'LOWEST'
    """

    priority = 'LOWEST'

    def __init__(self, path: str, min_interval_s: float = 1.0) -> None:
        if isinstance(min_interval_s, bool) or not isinstance(min_interval_s, (int, float)):
            raise TypeError(f'min_interval_s must be a number, got {min_interval_s!r}')
        if min_interval_s < 0:
            raise ValueError(f'min_interval_s must be >= 0, got {min_interval_s!r}')
        self.path, self.min_interval_s = path, min_interval_s
        self._file: Optional[IO[str]] = None
        self._last = -float('inf')
        self._start: Optional[tuple] = None  # (time, iter) of this process's first iteration

    def before_run(self, runner) -> None:
        torn = os.path.exists(self.path) and os.path.getsize(self.path) > 0
        if torn:
            with open(self.path, 'rb') as f:
                f.seek(-1, os.SEEK_END)
                torn = f.read(1) != b'\n'
        self._file = open(self.path, 'a', buffering=1)  # noqa: SIM115  (open for the run)
        if torn:  # an earlier try was killed mid-line: start on a new one
            self._file.write('\n')

    def after_run(self, runner) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _due(self, batch: int, batches: Optional[int]) -> bool:
        now = time.monotonic()
        if batch == 1 or batch == batches or now - self._last >= self.min_interval_s:
            self._last = now
            return True
        return False

    def _write(self, record: dict) -> None:
        if self._file is not None:
            self._file.write(json.dumps(dict(record, time=time.time())) + '\n')

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        done, max_iters = runner.iter + 1, runner.max_iters
        if self._start is None:
            self._start = (time.monotonic(), runner.iter)
        batches = _length(runner.train_dataloader)
        if not self._due(batch_idx + 1, batches):
            return
        elapsed, since = time.monotonic() - self._start[0], done - self._start[1]
        loss = (outputs or {}).get('loss') if isinstance(outputs, dict) else None
        self._write(
            {
                'phase': 'train',
                'epoch': runner.epoch + 1,
                'max_epochs': getattr(runner.train_loop, 'max_epochs', None),
                'iter': done,
                'max_iters': max_iters,
                'batch': batch_idx + 1,
                'batches': batches,
                'loss': None if loss is None else float(loss),
                'eta_s': elapsed / since * max(max_iters - done, 0),
            }
        )

    def after_test_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        batches = _length(runner.test_dataloader)
        if self._due(batch_idx + 1, batches):
            self._write({'phase': 'test', 'batch': batch_idx + 1, 'batches': batches})


def _length(dataloader: Any) -> Optional[int]:
    try:
        return len(dataloader)
    except TypeError:
        return None


class ProgressReader:
    """The records appended to a progress file since this reader was made.

    Args:
        path (str): The progress file (it need not exist yet).

    Example:
        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), PROGRESS_FILE)
        >>> reader = ProgressReader(path)
        >>> with open(path, 'a') as f:
        ...     _ = f.write('{"phase": "test", "batch": 1, "batches": 2}\\n{"phase": "te')
        >>> reader.read(), reader.read()
        ([{'phase': 'test', 'batch': 1, 'batches': 2}], [])
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.offset = os.path.getsize(path) if os.path.exists(path) else 0

    def read(self) -> list:
        """The whole lines written since the last call, as dicts (others skipped)."""
        try:
            with open(self.path, 'rb') as f:
                f.seek(self.offset)
                data = f.read()
        except OSError:
            return []
        end = data.rfind(b'\n') + 1  # a line still being written waits for the next call
        self.offset += end
        records = []
        for line in data[:end].splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                records.append(record)
        return records


def progress_status(record: dict, length: tuple) -> Optional[tuple]:
    """``(fraction of the run done, short text)`` from a progress record, or None.

    ``length`` is the run's ``('epoch', max_epochs)`` or ``('iter', max_iters)``.

    >>> progress_status({'phase': 'train', 'epoch': 2, 'batch': 20, 'batches': 63,
    ...                  'iter': 83, 'max_iters': 189, 'loss': 0.51}, ('epoch', 3))
    (0.4259..., 'epoch 2/3 [20/63] loss 0.5100')
    """
    loss = record.get('loss')
    loss = '' if loss is None else f' loss {loss:.4f}'
    if record.get('phase') == 'train':
        if length[0] == 'epoch' and length[1] and record.get('batches'):
            epoch, i, n = record['epoch'], record['batch'], record['batches']
            done = ((epoch - 1) * n + i) / (length[1] * n)
            return min(done, 1.0) * TRAIN_SHARE, f'epoch {epoch}/{length[1]} [{i}/{n}]{loss}'
        i, n = record.get('iter'), record.get('max_iters')
        if i and n:
            return min(i / n, 1.0) * TRAIN_SHARE, f'iter [{i}/{n}]{loss}'
    if record.get('phase') == 'test' and record.get('batches'):
        i, n = record['batch'], record['batches']
        return TRAIN_SHARE + (1 - TRAIN_SHARE) * i / n, f'test [{i}/{n}]'
    return None


class Progress:
    """Lines of ``[i/N] point/seed: ... | elapsed | ETA`` on ``stream``.

    Args:
        total_runs (int): The runs of the plan.
        to_run (int): Those that this session trains.
        stream (IO[str]): Where the lines go.

    Example:
        >>> import io
        >>> progress = Progress(2, 2, io.StringIO())
        >>> progress.eta()
        'ETA ?'
    """

    def __init__(self, total_runs: int, to_run: int, stream: IO[str]):
        self.total, self.to_run, self.stream = total_runs, to_run, stream
        self.start = time.monotonic()
        self.finished = 0  # runs done in this session
        self.partial = 0.0  # the part done of the run in progress

    def eta(self) -> str:
        """The sweep's time left, at this session's pace."""
        done = self.finished + self.partial
        elapsed = time.monotonic() - self.start
        if done < 0.02:
            return 'ETA ?'
        return f'ETA {hms(elapsed / done * max(self.to_run - done, 0))}'

    def say(self, index: int, run, text: str, timing: bool = True) -> None:
        """Print ``text`` about the ``index``-th run (with elapsed time and ETA)."""
        line = f'[{index}/{self.total}] {run.label}: {text}'
        if timing:
            line += f' | elapsed {hms(time.monotonic() - self.start)} | {self.eta()}'
        print(line, file=self.stream, flush=True)


__all__ = [
    'PROGRESS_FILE',
    'Progress',
    'ProgressHook',
    'ProgressReader',
    'hms',
    'progress_status',
]
