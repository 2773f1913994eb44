"""Which exceptions the tools print as one line: user errors always, plain ones
only while the run is prepared."""

import errno

import pytest

from se_plugin.datasets.transforms import ImageLoadError
from se_plugin.runtime.errors import (
    ConfigError,
    DataError,
    UserError,
    is_user_error,
    mark_preparing,
    mark_running,
    run_started,
)
from se_plugin.runtime.hooks import NonFiniteLossError
from se_plugin.runtime.weights import WeightsMismatchError


@pytest.fixture(autouse=True)
def preparing():
    mark_preparing()
    yield
    mark_preparing()


USER = [
    ConfigError('x'),
    DataError('x'),
    ImageLoadError('x'),
    WeightsMismatchError('x'),
    NonFiniteLossError('x'),
    OSError(errno.ENOSPC, 'No space left on device'),
    OSError(errno.EDQUOT, 'Disk quota exceeded'),
    OSError(errno.EROFS, 'Read-only file system', '/mnt/ro/epoch_3.pth'),
    PermissionError(errno.EACCES, 'Permission denied', '/data/work'),
    PermissionError(errno.EPERM, 'Operation not permitted', '/data/work'),
]
PLAIN = [ValueError('x'), TypeError('x'), KeyError('x'), IndexError('x'), FileNotFoundError('x')]
BUGS = [RuntimeError('x'), AssertionError('x'), ZeroDivisionError('x'), OSError(errno.EIO, 'x')]


@pytest.mark.parametrize('running', [False, True])
@pytest.mark.parametrize(
    'err',
    USER,
    ids=lambda e: f'{type(e).__name__}-{e.errno}' if isinstance(e, OSError) else type(e).__name__,
)
def test_user_errors_are_one_line_in_every_phase(err, running):
    if running:
        mark_running()
    assert is_user_error(err)


@pytest.mark.parametrize('err', PLAIN, ids=lambda e: type(e).__name__)
def test_plain_errors_are_one_line_only_while_preparing(err):
    assert is_user_error(err)
    mark_running()
    assert run_started() and not is_user_error(err)


@pytest.mark.parametrize('err', BUGS, ids=lambda e: type(e).__name__)
def test_bugs_keep_their_traceback(err):
    assert not is_user_error(err)


def test_user_error_classes_are_also_the_builtin_kinds():
    assert issubclass(ConfigError, ValueError) and issubclass(ConfigError, UserError)
    assert issubclass(ImageLoadError, ValueError) and issubclass(WeightsMismatchError, UserError)
