"""CPU distributed setup, in-process (the 2-process run is tests/tools/test_dist_cpu.py)."""

import gc
import weakref

import pytest
import torch
import torch.distributed as torch_dist
from mmengine.config import Config
from mmengine.registry import MODEL_WRAPPERS

from se_plugin.runtime.distributed import (
    WRAPPER_TYPE,
    AnyDeviceDistributedDataParallel,
    _destroy_process_group,
    average_across_ranks,
    configure_distributed,
    init_distributed,
)

needs_no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason='CPU-only behaviour')


def _cfg(**kwargs):
    return Config(dict(env_cfg=dict(dist_cfg=dict(backend='nccl')), **kwargs))


def test_no_launcher_leaves_the_config_alone():
    cfg = _cfg(launcher='none')
    configure_distributed(cfg)
    assert cfg.env_cfg.dist_cfg.backend == 'nccl' and 'model_wrapper_cfg' not in cfg


@needs_no_cuda
def test_pytorch_launcher_on_cpu_uses_gloo_and_the_any_device_wrapper():
    cfg = _cfg(launcher='pytorch', find_unused_parameters=True)
    configure_distributed(cfg)
    assert cfg.env_cfg.dist_cfg.backend == 'gloo'
    assert cfg.model_wrapper_cfg == dict(
        type=WRAPPER_TYPE, broadcast_buffers=False, find_unused_parameters=True
    )
    assert MODEL_WRAPPERS.get(WRAPPER_TYPE) is AnyDeviceDistributedDataParallel


def test_user_wrapper_options_are_kept_and_custom_wrappers_untouched():
    cfg = _cfg(launcher='pytorch', model_wrapper_cfg=dict(broadcast_buffers=True))
    configure_distributed(cfg)
    assert cfg.model_wrapper_cfg.broadcast_buffers is True
    assert cfg.model_wrapper_cfg.type == WRAPPER_TYPE
    custom = dict(type='MMFullyShardedDataParallel')
    cfg = _cfg(launcher='pytorch', model_wrapper_cfg=dict(custom))
    configure_distributed(cfg)
    assert cfg.model_wrapper_cfg == custom


@needs_no_cuda
@pytest.mark.parametrize('launcher', ['slurm', 'mpi'])
def test_other_launchers_need_cuda(launcher):
    with pytest.raises(ValueError, match='--launcher pytorch'):
        configure_distributed(_cfg(launcher=launcher))


@needs_no_cuda
def test_init_needs_the_torchrun_environment(monkeypatch):
    for name in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT'):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValueError, match='tools/dist_train.sh'):
        init_distributed(_cfg(launcher='pytorch'))
    assert init_distributed(_cfg(launcher='none')) is False


@pytest.fixture
def single_process_group(tmp_path):
    torch_dist.init_process_group(
        'gloo', init_method=f'file://{tmp_path / "store"}', rank=0, world_size=1
    )
    yield
    if torch_dist.is_initialized():
        torch_dist.destroy_process_group()


def test_wrapper_drops_device_ids_for_a_cpu_module(single_process_group):
    """mmengine passes device_ids=[LOCAL_RANK]; torch refuses them for a CPU module."""
    with pytest.raises(ValueError, match='device_ids'):
        torch.nn.parallel.DistributedDataParallel(torch.nn.Linear(2, 2), device_ids=[0])
    wrapped = MODEL_WRAPPERS.build(
        dict(type=WRAPPER_TYPE, broadcast_buffers=False),
        default_args=dict(module=torch.nn.Linear(2, 2), device_ids=[0]),
    )
    assert isinstance(wrapped, AnyDeviceDistributedDataParallel) and wrapped.device_ids is None
    assert wrapped(torch.ones(1, 2)).shape == (1, 2)


def test_average_across_ranks(single_process_group):
    values = {'loss': torch.tensor(2.5), 'acc': 0.5}
    assert average_across_ranks(values) == values  # one rank: nothing to average
    assert average_across_ranks({}) == {}


def test_teardown_frees_a_cycle_held_wrapper_before_destroying_the_group(
    single_process_group, monkeypatch
):
    """The DDP reducer keeps the gloo group alive and a finished Runner sits in
    reference cycles: the exit hook collects them first, so the group is freed
    while the interpreter is whole (freed during finalization, gloo's threads
    sometimes aborted a finished 2-process run with exit -6)."""

    class RunnerLike:
        pass

    runner = RunnerLike()
    runner.itself = runner  # a cycle, as mmengine's Runner has through its hooks and loops
    runner.model = MODEL_WRAPPERS.build(
        dict(type=WRAPPER_TYPE, broadcast_buffers=False),
        default_args=dict(module=torch.nn.Linear(2, 2)),
    )
    wrapper = weakref.ref(runner.model)
    destroy = torch_dist.destroy_process_group
    wrapper_freed_at_destroy = []

    def recording_destroy(*args, **kwargs):
        wrapper_freed_at_destroy.append(wrapper() is None)
        destroy(*args, **kwargs)

    monkeypatch.setattr(torch_dist, 'destroy_process_group', recording_destroy)
    gc.disable()
    try:
        del runner
        assert wrapper() is not None  # only a collection frees it
        _destroy_process_group()
    finally:
        gc.enable()
    assert wrapper_freed_at_destroy == [True]
    assert not torch_dist.is_initialized()
    _destroy_process_group()  # a second call (the group is gone) does nothing
