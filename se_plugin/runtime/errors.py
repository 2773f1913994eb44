"""User errors of the tools, and where a run stands (preparing or running).

The tools end with one line on stderr and exit code 2 for an error the user can
fix, and keep the traceback for a bug. Two rules decide which is which
(:func:`is_user_error`):

* an exception of a :class:`UserError` class (config, arguments, data,
  checkpoints, work dir; raised by se_plugin's checks) is always one line,
  wherever it is raised, also from a DataLoader worker hours into training;
* a plain ``ValueError`` / ``TypeError`` / ``KeyError`` / file error is one
  line only while the run is being prepared (config, model, datasets,
  checkpoint): model and dataset constructors report bad arguments that way.
  Once the first loop starts (:class:`~se_plugin.runtime.hooks.RunPhaseHook`
  marks it), the same exception is a bug and keeps its traceback.

A file system that refuses a write (full: ``ENOSPC``/``EDQUOT``; read-only:
``EROFS``; no permission: ``EACCES``/``EPERM``) is the user's environment, not
a bug: one line at any time, also from a checkpoint written hours into
training.
"""

from __future__ import annotations

import errno
import pickle

__all__ = [
    'ArgumentError',
    'ConfigError',
    'DataError',
    'ENVIRONMENT_ERRNOS',
    'PREPARATION_ERRORS',
    'UserError',
    'WorkDirLockedError',
    'is_user_error',
    'mark_preparing',
    'mark_running',
    'run_started',
]


class UserError(Exception):
    """An error the user can fix; the tools print it as one line (exit 2)."""


class ConfigError(UserError, ValueError):
    """A config (or a ``--cfg-options`` entry) that cannot be used."""


class ArgumentError(UserError, ValueError):
    """A command-line argument that cannot be used."""


class DataError(UserError, ValueError):
    """A dataset that cannot be used as configured (files, classes, indices)."""


class WorkDirLockedError(UserError, RuntimeError):
    """A work dir that another running process is using."""


# what dataset / model constructors and file opens raise for bad arguments
PREPARATION_ERRORS = (
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    FileNotFoundError,
    FileExistsError,
    NotADirectoryError,
    IsADirectoryError,
    PermissionError,
    pickle.UnpicklingError,
)
# what a file system answers for a write it refuses (see the module docstring)
ENVIRONMENT_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM)

_state = {'running': False}


def mark_preparing() -> None:
    """A new run is being prepared (the tools call this first)."""
    _state['running'] = False


def mark_running() -> None:
    """The run's first loop has started: plain exceptions are bugs from now on."""
    _state['running'] = True


def run_started() -> bool:
    """Whether :func:`mark_running` was called since the last :func:`mark_preparing`."""
    return _state['running']


def is_user_error(err: BaseException) -> bool:
    """Whether the tools print ``err`` as one line (see the module docstring)."""
    if isinstance(err, UserError):
        return True
    if isinstance(err, OSError) and err.errno in ENVIRONMENT_ERRNOS:
        return True
    return not run_started() and isinstance(err, PREPARATION_ERRORS)
