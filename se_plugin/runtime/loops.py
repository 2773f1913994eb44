"""An epoch-based train loop that resumes mid-epoch where it stopped.

mmengine 0.10.7's ``IterBasedTrainLoop`` skips the batches already trained
when it resumes, but ``EpochBasedTrainLoop`` does not: resumed from an
iteration checkpoint (``CheckpointHook(by_epoch=False)``) in the middle of an
epoch, it trains that whole epoch again from its first batch, so the run does
more iterations than configured and sees part of the epoch twice.

:class:`ResumableEpochBasedTrainLoop` skips them. The sampler of the resumed
epoch is seeded as before the interruption (``DistSamplerSeedHook`` sets
``seed + epoch``), so the batches that follow are exactly those the
uninterrupted run would have trained on. The skipped batches are loaded and
discarded (as ``IterBasedTrainLoop`` does), which restarts data-augmentation
random streams; with deterministic pipelines a resumed run is bit-for-bit the
uninterrupted one. ``tools/train.py`` uses this loop for every epoch-based
``train_cfg`` that names no loop type (see
:func:`se_plugin.cli.prepare_train_config`).
"""

from __future__ import annotations

from mmengine.runner import EpochBasedTrainLoop

from se_plugin.registry import LOOPS

__all__ = ['ResumableEpochBasedTrainLoop']


@LOOPS.register_module()
class ResumableEpochBasedTrainLoop(EpochBasedTrainLoop):
    """``EpochBasedTrainLoop`` that skips the batches of a resumed epoch already trained.

    Arguments are those of mmengine's ``EpochBasedTrainLoop`` (``max_epochs``,
    ``val_begin``, ``val_interval``, ``dynamic_intervals``).
    """

    def batches_done_in_epoch(self) -> int:
        """Batches of the current epoch trained before a resume (0 at an epoch start)."""
        return max(0, self._iter - self._epoch * len(self.dataloader))

    def run_epoch(self) -> None:
        done = self.batches_done_in_epoch()
        if done == 0:
            super().run_epoch()
            return
        self.runner.logger.info(
            f'Resuming epoch {self._epoch + 1} after its batch {done}: skipping the '
            f'{done} batches already trained'
        )
        self.runner.call_hook('before_train_epoch')
        self.runner.model.train()
        if done < len(self.dataloader):  # else: killed after the epoch's last batch
            for idx, data_batch in enumerate(self.dataloader):
                if idx >= done:
                    self.run_iter(idx, data_batch)
        self.runner.call_hook('after_train_epoch')
        self._epoch += 1
