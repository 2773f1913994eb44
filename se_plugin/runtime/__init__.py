from .checkpoint import (
    CheckpointError,
    install_safe_globals,
    load_checkpoint_file,
    register_checkpoint_loader,
    safe_globals,
)

install_safe_globals()
register_checkpoint_loader()

__all__ = [
    'CheckpointError',
    'install_safe_globals',
    'load_checkpoint_file',
    'register_checkpoint_loader',
    'safe_globals',
]
