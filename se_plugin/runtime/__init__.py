"""Training runtime: checkpoints, hooks, loops, the checked Runner, user errors.

Names are loaded on first use: importing the package imports neither torch nor
mmengine. Its hooks, loop, weight initializer and DDP wrapper are registered
when se_plugin's registries first look them up (their ``locations``,
:mod:`se_plugin.registry`). Nothing outside se_plugin changes here: that is
:func:`install`, which ``import se_plugin`` calls (:mod:`.install`).
"""

from se_plugin.lazy import lazy_attributes

from .install import install, install_on_import, install_when_imported

__all__, __getattr__, __dir__ = lazy_attributes(
    __name__,
    {
        'checkpoint': (
            'CheckpointError',
            'check_resumable',
            'find_resumable_checkpoint',
            'load_checkpoint_file',
            'register_checkpoint_loader',
        ),
        'allow_list': ('install_safe_globals', 'safe_globals'),
        # crash-safe checkpoints and mid-epoch resume
        'atomic': ('atomic_write_bytes', 'atomic_write_text'),
        'checkpoint_hook': ('AtomicCheckpointHook', 'AtomicLocalBackend'),
        'loops': ('ResumableEpochBasedTrainLoop',),
        # distributed training without CUDA
        'distributed': (
            'AnyDeviceDistributedDataParallel',
            'configure_distributed',
            'init_distributed',
        ),
        'hooks': (
            'ChannelsLastHook',
            'NonFiniteLossError',
            'NonFiniteLossHook',
            'RunPhaseHook',
            'to_channels_last',
        ),
        # user errors (one line from the tools), checked loading, the tools' Runner
        'errors': ('ConfigError', 'DataError', 'UserError'),
        'runner': ('CheckedRunner',),
        'weights': ('CheckedPretrainedInit', 'WeightsMismatchError'),
        'workdir_lock': ('lock_work_dir',),
    },
)
__all__ += ['install', 'install_on_import', 'install_when_imported']
