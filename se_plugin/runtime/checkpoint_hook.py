"""A crash-safe ``CheckpointHook``: a kill at any moment leaves a resumable work dir.

mmengine 0.10.7's ``CheckpointHook`` has three windows in which ``kill -9``
loses the run's progress:

1. the checkpoint is written in place, so a kill mid-write leaves a truncated
   ``epoch_N.pth``;
2. ``last_checkpoint`` is rewritten in place (truncate, then write), so a kill
   there leaves an empty pointer;
3. with ``max_keep_ckpts`` the oldest checkpoint is deleted *before* the new
   one is written, so with ``max_keep_ckpts=1`` a kill during the save leaves
   no complete checkpoint at all.

:class:`AtomicCheckpointHook` closes all three: the checkpoint goes through
:class:`AtomicLocalBackend` (temp file + fsync + ``os.replace``,
:mod:`~se_plugin.runtime.atomic`), registered as the file backend
``'se_plugin_atomic_local'`` and selected through the hook's ``backend_args``
(mmengine's own extension point, no patching), then the pointer is replaced
atomically, and only then are checkpoints beyond ``max_keep_ckpts`` deleted. Best checkpoints
(``save_best``) are written atomically too. Everything else is mmengine's hook.
"""

from __future__ import annotations

import os.path as osp
from pathlib import Path
from typing import Optional, Union

from mmengine.dist import is_main_process
from mmengine.fileio import LocalBackend, register_backend
from mmengine.hooks import CheckpointHook

from se_plugin.registry import HOOKS

from .atomic import atomic_write_bytes, atomic_write_text, remove_stale_temp_files

__all__ = ['ATOMIC_BACKEND', 'AtomicCheckpointHook', 'AtomicLocalBackend', 'LAST_CHECKPOINT']

ATOMIC_BACKEND = 'se_plugin_atomic_local'
LAST_CHECKPOINT = 'last_checkpoint'


@register_backend(ATOMIC_BACKEND, force=True)
class AtomicLocalBackend(LocalBackend):
    """mmengine's local file backend whose writes are atomic (temp + fsync + rename)."""

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        atomic_write_bytes(obj, filepath)

    def put_text(self, obj: str, filepath: Union[str, Path], encoding: str = 'utf-8') -> None:
        atomic_write_text(obj, filepath, encoding=encoding)


def _is_local(path: Optional[str]) -> bool:
    return path is None or '://' not in str(path)


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """mmengine's ``CheckpointHook`` with crash-safe saving (same arguments).

    For a local ``out_dir`` (the work dir by default) and no explicit
    ``backend_args``/``file_client_args``, checkpoints are written with
    temp file + fsync + atomic rename; the ``last_checkpoint`` pointer is
    replaced atomically after the checkpoint it names is complete; outdated
    checkpoints are deleted only after that. Remote ``out_dir`` URIs (or a
    user-chosen backend) keep mmengine's behaviour for the checkpoint itself.

    Example:
        >>> from se_plugin.registry import HOOKS
        >>> hook = HOOKS.build(dict(type='AtomicCheckpointHook', interval=1))
        >>> hook.backend_args
        {'backend': 'se_plugin_atomic_local'}
    """

    def __init__(self, *args, **kwargs) -> None:
        local = _is_local(kwargs.get('out_dir'))
        if local and kwargs.get('backend_args') is None and kwargs.get('file_client_args') is None:
            kwargs['backend_args'] = dict(backend=ATOMIC_BACKEND)
        super().__init__(*args, **kwargs)

    def before_train(self, runner) -> None:
        super().before_train(runner)
        if is_main_process():
            # temp files of writes killed in an earlier run of this work dir
            for directory in {runner.work_dir, self.out_dir}:
                if _is_local(directory) and osp.isdir(directory):
                    remove_stale_temp_files(directory)

    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        # mmengine's order is: delete the oldest, save, write the pointer.
        # Here: save (atomically), replace the pointer, then delete.
        outdated = []
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                outdated.append(self.keep_ckpt_ids.popleft())
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))

        ckpt_filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, ckpt_filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)

        runner.save_checkpoint(
            self.out_dir,
            ckpt_filename,
            self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            backend_args=self.backend_args,
            **self.args,
        )
        if not is_main_process():
            return
        atomic_write_text(str(self.last_ckpt), osp.join(runner.work_dir, LAST_CHECKPOINT))
        for old_step in outdated:
            self._remove(
                self.file_backend.join_path(self.out_dir, self.filename_tmpl.format(old_step))
            )

    def _remove(self, path: str) -> None:
        if path in (self.last_ckpt, getattr(self, 'best_ckpt_path', None)):
            return
        if self.file_backend.isfile(path):
            self.file_backend.remove(path)
        elif self.file_backend.isdir(path):  # checkpoints saved by deepspeed
            self.file_backend.rmtree(path)
