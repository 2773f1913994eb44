"""Training runtime: checkpoints, hooks, loops, the checked Runner, user errors.

Importing it registers its hooks, loop and DDP wrapper; it changes nothing outside
se_plugin (that is :func:`install`, which ``import se_plugin`` calls).
"""

from .checkpoint import (
    CheckpointError,
    check_resumable,
    find_resumable_checkpoint,
    install_safe_globals,
    load_checkpoint_file,
    register_checkpoint_loader,
    safe_globals,
)
from .install import install, install_on_import

__all__ = [
    'CheckpointError',
    'check_resumable',
    'find_resumable_checkpoint',
    'install',
    'install_on_import',
    'install_safe_globals',
    'load_checkpoint_file',
    'register_checkpoint_loader',
    'safe_globals',
]

# crash-safe checkpoints and mid-epoch resume (registers AtomicCheckpointHook,
# ResumableEpochBasedTrainLoop and the 'se_plugin_atomic_local' file backend)
from .atomic import AtomicLocalBackend, atomic_write_bytes, atomic_write_text  # noqa: E402
from .checkpoint_hook import AtomicCheckpointHook  # noqa: E402

# distributed training without CUDA (registers AnyDeviceDistributedDataParallel)
from .distributed import (  # noqa: E402
    AnyDeviceDistributedDataParallel,
    configure_distributed,
    init_distributed,
)
from .loops import ResumableEpochBasedTrainLoop  # noqa: E402

__all__ += [
    'AnyDeviceDistributedDataParallel',
    'AtomicCheckpointHook',
    'AtomicLocalBackend',
    'ResumableEpochBasedTrainLoop',
    'atomic_write_bytes',
    'atomic_write_text',
    'configure_distributed',
    'init_distributed',
]

# channels-last training (registers ChannelsLastHook)
from .hooks import (  # noqa: E402
    ChannelsLastHook,
    NonFiniteLossError,
    NonFiniteLossHook,
    to_channels_last,
)

__all__ += ['ChannelsLastHook', 'NonFiniteLossError', 'NonFiniteLossHook', 'to_channels_last']

# user errors (one line from the tools), checked loading, the tools' Runner, work-dir lock
from .errors import ConfigError, DataError, RunPhaseHook, UserError  # noqa: E402
from .runner import CheckedRunner  # noqa: E402
from .weights import CheckedPretrainedInit, WeightsMismatchError  # noqa: E402
from .workdir_lock import lock_work_dir  # noqa: E402

__all__ += [
    'CheckedPretrainedInit',
    'CheckedRunner',
    'ConfigError',
    'DataError',
    'RunPhaseHook',
    'UserError',
    'WeightsMismatchError',
    'lock_work_dir',
]
