"""A tool's ``main``, run: user errors become one line on stderr and exit 2
(``SE_PLUGIN_DEBUG=1`` shows the traceback)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Optional

from se_plugin.runtime.errors import is_user_error, mark_preparing
from se_plugin.runtime.install import install_when_imported

from .launch import quiet_other_ranks, report_user_error
from .parser import EXIT_USER_ERROR


def _message(err: BaseException) -> str:
    if isinstance(err, OSError) and err.strerror and err.filename is not None:
        # '[Errno 30] Read-only file system: 'x'' -> 'Read-only file system: x'
        names = [n for n in (err.filename, err.filename2) if n is not None]
        return f'{err.strerror}: {" -> ".join(map(str, names))}'
    text = str(err.args[0] if isinstance(err, KeyError) and err.args else err)
    if 'Original Traceback' in text:
        # re-raised from a DataLoader worker: keep the error, not the traceback
        last = [line for line in text.splitlines() if line.strip()][-1].strip()
        name, sep, rest = last.partition(': ')
        text = rest if sep and ' ' not in name else last
    return ' '.join(text.split()) or type(err).__name__


def run_cli(main: Callable[[], Optional[int]]) -> None:
    """Run a tool's ``main``: user errors become one line on stderr and exit 2.

    Which errors are the user's: :func:`~se_plugin.runtime.errors.is_user_error`
    (se_plugin's own error classes always; plain ``ValueError``/``TypeError``/...
    only while the run is prepared; a traceback once training runs). Under a
    distributed launcher the job says it once (:mod:`~se_plugin.cli.launch`). The tools
    always load checkpoints through se_plugin's loader:
    :func:`~se_plugin.runtime.install.install_when_imported` is called here too
    (it imports nothing itself), so ``SE_PLUGIN_NO_INSTALL=1`` does not change
    what they do.
    """
    install_when_imported()
    quiet_other_ranks()
    mark_preparing()
    try:
        code = main()
    except KeyboardInterrupt:
        print('interrupted', file=sys.stderr)
        sys.exit(130)
    except Exception as err:
        if not is_user_error(err) or os.environ.get('SE_PLUGIN_DEBUG'):
            raise
        report_user_error(
            f'error: {_message(err)} [{type(err).__name__}; SE_PLUGIN_DEBUG=1 shows the traceback]'
        )
        sys.exit(EXIT_USER_ERROR)
    sys.exit(code or 0)
