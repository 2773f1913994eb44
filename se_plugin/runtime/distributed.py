"""Distributed training that also works without CUDA (gloo on CPU).

mmengine 0.10.7 cannot run a CPU-only distributed job: its ``init_dist``
always calls ``torch.cuda.set_device(local_rank)``, and ``Runner.wrap_model``
passes ``device_ids=[local_rank]`` to ``DistributedDataParallel``, which
torch refuses for a CPU module. Both are avoided through mmengine's own
extension points, without patching it:

* :func:`init_distributed` creates the process group itself (gloo when CUDA
  is unavailable) before the ``Runner`` is built; ``Runner.setup_env`` only
  calls ``init_dist`` when no process group exists, so it is skipped.
* :func:`configure_distributed` points ``model_wrapper_cfg`` at
  :class:`AnyDeviceDistributedDataParallel`, mmengine's
  ``MMDistributedDataParallel`` that drops ``device_ids`` for a CPU module and
  averages the logged losses over the ranks, so the logs of an N-process run
  show the loss of the whole global batch (the number a 1-process run with
  the same global batch logs), not rank 0's share.
"""

from __future__ import annotations

import atexit
import datetime
import gc
import inspect
import os
from collections.abc import Mapping
from typing import Any, Optional

import torch
import torch.distributed as torch_dist
from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.model import MMDistributedDataParallel
from torch.nn.parallel import DistributedDataParallel

from se_plugin.registry import MODEL_WRAPPERS

__all__ = [
    'AnyDeviceDistributedDataParallel',
    'WRAPPER_TYPE',
    'configure_distributed',
    'init_distributed',
]

# resolvable from mmengine's root registry (Runner.wrap_model looks the type up
# there) and from the se_plugin scope
WRAPPER_TYPE = 'se_plugin.runtime.distributed.AnyDeviceDistributedDataParallel'
TORCHRUN_ENV = ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_ADDR', 'MASTER_PORT')


def _module_device(module: torch.nn.Module) -> torch.device:
    for tensor in (*module.parameters(), *module.buffers()):
        return tensor.device
    return torch.device('cpu')


def average_across_ranks(values: Mapping[str, Any]) -> dict:
    """The mean over all ranks of each scalar in ``values`` (one all-reduce)."""
    if not values or not torch_dist.is_initialized() or torch_dist.get_world_size() == 1:
        return dict(values)
    keys = list(values)
    device = next(
        (v.device for v in values.values() if isinstance(v, torch.Tensor)), torch.device('cpu')
    )
    if torch_dist.get_backend() == 'nccl' and device.type != 'cuda':
        device = torch.device('cuda', torch.cuda.current_device())
    stacked = torch.stack(
        [
            torch.as_tensor(values[k], dtype=torch.float64, device=device).detach().reshape(())
            for k in keys
        ]
    )
    torch_dist.all_reduce(stacked)
    stacked /= torch_dist.get_world_size()
    return {k: stacked[i].to(torch.float32) for i, k in enumerate(keys)}


_HAS_FORWARD_SYNC = 'forward_sync_buffers' in inspect.signature(DistributedDataParallel).parameters


@MODEL_WRAPPERS.register_module()
class AnyDeviceDistributedDataParallel(MMDistributedDataParallel):
    """mmengine's ``MMDistributedDataParallel`` for CUDA and CPU modules.

    Args:
        module (nn.Module): The model, already on its device.
        detect_anomalous_params (bool): As in mmengine. Default: False.
        average_log_vars (bool): Log the mean of each loss over the ranks
            (one extra all-reduce of a few scalars per iteration) instead of
            rank 0's own. Default: True.
        **kwargs: Arguments of ``torch.nn.parallel.DistributedDataParallel``;
            ``device_ids`` and ``output_device`` are dropped for a CPU module
            (torch requires None there). ``broadcast_buffers`` (what mmengine
            and the configs set; deprecated in torch >= 2.11) is passed as
            ``forward_sync_buffers`` where torch has it: the same per-step
            behaviour; buffers are then also synced once at construction,
            which changes nothing here (every rank builds the same model from
            the same seed and loads the same checkpoint).
    """

    def __init__(
        self,
        module: torch.nn.Module,
        detect_anomalous_params: bool = False,
        average_log_vars: bool = True,
        **kwargs,
    ) -> None:
        if _module_device(module).type == 'cpu':
            kwargs.pop('device_ids', None)
            kwargs.pop('output_device', None)
        if 'broadcast_buffers' in kwargs and _HAS_FORWARD_SYNC:
            kwargs['forward_sync_buffers'] = kwargs.pop('broadcast_buffers')
        super().__init__(module=module, detect_anomalous_params=detect_anomalous_params, **kwargs)
        self.average_log_vars = bool(average_log_vars)

    def train_step(self, data, optim_wrapper) -> dict:
        log_vars = super().train_step(data, optim_wrapper)
        return average_across_ranks(log_vars) if self.average_log_vars else log_vars


def _is_default_ddp(wrapper_cfg: Optional[Mapping]) -> bool:
    return wrapper_cfg is None or wrapper_cfg.get('type', 'MMDistributedDataParallel') in (
        'MMDistributedDataParallel',
        'mmengine.MMDistributedDataParallel',
    )


def configure_distributed(cfg: Config) -> None:
    """Adapt a config for ``cfg.launcher`` (a no-op for ``'none'``).

    Without CUDA: the ``nccl`` backend of the configs becomes ``gloo``, and
    only the ``pytorch`` launcher (torchrun, ``tools/dist_train.sh``) is
    supported. On any device the default DDP wrapper becomes
    :class:`AnyDeviceDistributedDataParallel` (keeping
    ``find_unused_parameters`` and ``broadcast_buffers=False`` as mmengine
    sets them).
    """
    launcher = cfg.get('launcher', 'none')
    if launcher == 'none':
        return
    if not torch.cuda.is_available():
        if launcher != 'pytorch':
            raise ValueError(
                f'--launcher {launcher} needs CUDA; without a GPU, distributed training runs '
                'with --launcher pytorch (tools/dist_train.sh CONFIG NUM_PROCS)'
            )
        env_cfg = cfg.setdefault('env_cfg', {})
        dist_cfg = env_cfg.setdefault('dist_cfg', {})
        if dist_cfg.get('backend', 'nccl') == 'nccl':
            dist_cfg['backend'] = 'gloo'
    wrapper_cfg = cfg.get('model_wrapper_cfg')
    if _is_default_ddp(wrapper_cfg):
        new_cfg = dict(
            broadcast_buffers=False,
            find_unused_parameters=cfg.get('find_unused_parameters', False),
        )
        new_cfg.update(wrapper_cfg or {})
        new_cfg['type'] = WRAPPER_TYPE
        cfg.model_wrapper_cfg = new_cfg


def _destroy_process_group() -> None:
    """Tear the process group down while the interpreter is still whole.

    ``destroy_process_group`` only drops torch.distributed's own references:
    the DDP wrapper's reducer keeps the gloo group alive, and the finished
    ``Runner`` (which holds the wrapper) sits in reference cycles, so without
    a collection first the group would be freed during interpreter
    finalization, where gloo's threads sometimes abort the process
    ("terminate called without an active exception", exit -6) after a
    finished run.
    """
    if torch_dist.is_available() and torch_dist.is_initialized():
        gc.collect()
        torch_dist.destroy_process_group()


def init_distributed(cfg: Config) -> bool:
    """Create the process group for a CPU run of ``--launcher pytorch``.

    Returns True if this call created it. With CUDA (or with no launcher, or
    a group that already exists) it does nothing and mmengine initializes as
    usual.
    """
    if cfg.get('launcher', 'none') != 'pytorch' or torch.cuda.is_available():
        return False
    if torch_dist.is_available() and torch_dist.is_initialized():
        return False
    missing = [name for name in TORCHRUN_ENV if name not in os.environ]
    if missing:
        raise ValueError(
            f'--launcher pytorch expects the environment torchrun sets ({", ".join(missing)} '
            'missing): start it with tools/dist_train.sh CONFIG NUM_PROCS'
        )
    dist_cfg = dict((cfg.get('env_cfg') or {}).get('dist_cfg') or {})
    backend = dist_cfg.pop('backend', 'gloo')
    timeout = dist_cfg.pop('timeout', None)
    if timeout is not None:
        dist_cfg['timeout'] = datetime.timedelta(seconds=timeout)
    dist_cfg.pop('init_backend', None)
    torch_dist.init_process_group(backend=backend, **dist_cfg)
    atexit.register(_destroy_process_group)
    print_log(
        f'initialized the {backend} process group on CPU: rank {torch_dist.get_rank()} of '
        f'{torch_dist.get_world_size()}',
        logger='current',
    )
    return True
