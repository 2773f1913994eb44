"""se_plugin.cli.schedule: ``--max-epochs N`` keeps the schedule's shape, in N epochs.

The learning rate is simulated as mmengine's Runner and ``ParamSchedulerHook``
run it (schedulers built by ``CheckedRunner._build_param_scheduler``'s rules:
``convert_to_iter_based`` with the epoch length; stepped after each iteration or
epoch): the scaled schedule at a fraction of its run must give the lr the
config's own schedule gives at the same fraction of its run.
"""

import copy

import pytest
import torch
from helpers import QUICKSTART
from mmengine.config import Config
from mmengine.registry import PARAM_SCHEDULERS

from se_plugin.cli.schedule import scale_schedule
from se_plugin.runtime.errors import ArgumentError, ConfigError
from se_plugin.runtime.runner import at_least_two_iterations

IMAGENET = dict(type='MultiStepLR', by_epoch=True, milestones=[30, 60, 90], gamma=0.1)


def lr_curve(schedulers, epochs: int, epoch_length: int, lr: float = 0.1) -> list:
    """The lr of every iteration of an ``epochs``-epoch run (as mmengine trains it)."""
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=lr)
    built = []
    for cfg in copy.deepcopy(schedulers if isinstance(schedulers, list) else [schedulers]):
        cfg = at_least_two_iterations(cfg, epoch_length)
        cfg.setdefault('end', epochs if cfg.get('by_epoch', True) else epochs * epoch_length)
        built.append(
            PARAM_SCHEDULERS.build(
                cfg, default_args=dict(optimizer=optimizer, epoch_length=epoch_length)
            )
        )
    curve = []
    for _ in range(epochs):
        for _ in range(epoch_length):
            curve.append(optimizer.param_groups[0]['lr'])
            optimizer.step()
            for scheduler in built:
                if not scheduler.by_epoch:
                    scheduler.step()
        for scheduler in built:
            if scheduler.by_epoch:
                scheduler.step()
    return curve


def config(schedulers, epochs: int) -> Config:
    return Config(
        dict(param_scheduler=schedulers, train_cfg=dict(by_epoch=True, max_epochs=epochs))
    )


def scaled_curve(schedulers, old: int, new: int, epoch_length: int) -> list:
    options = scale_schedule(config(schedulers, old), new)
    assert options['train_cfg.max_epochs'] == new
    return lr_curve(options.get('param_scheduler', schedulers), new, epoch_length)


def same_shape(short: list, full: list, tolerance: float = 1e-3) -> None:
    """``short[i]`` is what ``full`` gives at the same fraction of the run, up to
    one iteration of the short run either way (a span of n iterations is a
    coarse copy of a span of 10 n: mmengine steps it n - 1 times), and
    ``tolerance`` times the largest lr."""
    step, slack = len(full) / len(short), tolerance * max(full)
    for i, value in enumerate(short):
        window = full[max(0, int((i - 1) * step)) : int((i + 2) * step) + 1]
        assert min(window) - slack <= value <= max(window) + slack, (i, value, window[:3])


QUICKSTART_SCHEDULE = Config.fromfile(QUICKSTART).param_scheduler


@pytest.mark.parametrize('epochs', [1, 3, 20])
def test_warmup_and_cosine_keep_their_shape(epochs):
    """The quick-start schedule (1-epoch warm-up, cosine to epoch 10) in 1, 3 and 20 epochs."""
    full = lr_curve(QUICKSTART_SCHEDULE, 10, 50)
    short = scaled_curve(QUICKSTART_SCHEDULE, 10, epochs, 50)
    assert len(short) == epochs * 50
    same_shape(short, full)
    top = max(short)
    assert top == pytest.approx(0.1, rel=0.02)  # warmed up to the full lr ...
    assert short.index(top) == pytest.approx(len(short) / 10, abs=2)  # ... after a tenth
    assert short[-1] < 0.001  # and annealed to the end of the last epoch


@pytest.mark.parametrize('epochs, drops', [(1, [30, 60, 90]), (50, None), (200, None)])
def test_step_decay_keeps_its_milestones(epochs, drops):
    """ImageNet's lr / 10 at epochs 30, 60, 90 of 100: at 30%, 60%, 90% of any run."""
    short = scaled_curve(IMAGENET, 100, epochs, 100)
    full = lr_curve(IMAGENET, 100, 100)
    same_shape(short, full)
    changes = [i for i in range(1, len(short)) if short[i] != short[i - 1]]
    total = len(short)
    assert changes == [total * 3 // 10, total * 6 // 10, total * 9 // 10]
    assert short[-1] == pytest.approx(1e-4)
    if drops:  # inside the one epoch: one scheduler per drop, stepped per iteration
        assert changes == drops


def test_whole_epoch_scaling_keeps_per_epoch_stepping():
    options = scale_schedule(config([IMAGENET], 100), 50)
    assert options['param_scheduler'] == [dict(IMAGENET, milestones=[15, 30, 45])]


def per_iteration(schedulers: list) -> list:
    """The same schedule stepped per iteration: the smooth reference of a scaled
    per-epoch schedule whose points fall inside epochs."""
    return [
        dict(s, convert_to_iter_based=True) if s.get('by_epoch', True) else s for s in schedulers
    ]


@pytest.mark.parametrize('epochs', [2, 3, 20])
def test_step_lr_iteration_schedulers_and_restarts(epochs):
    """Per-epoch schedules whose scaled points fall inside epochs are stepped per
    iteration: compared with the same schedule stepped per iteration."""
    schedules = [
        [
            dict(type='LinearLR', by_epoch=False, start_factor=0.1, begin=0, end=40),
            dict(type='StepLR', by_epoch=True, step_size=3, gamma=0.5, begin=1),
        ],
        [dict(type='CosineRestartLR', periods=[4, 6], restart_weights=[1, 0.5], eta_min=0)],
    ]
    for schedule in schedules:
        full = lr_curve(per_iteration(schedule), 10, 20)
        same_shape(scaled_curve(per_iteration(schedule), 10, epochs, 20), full)


def test_whole_epochs_stay_per_epoch():
    cycle = dict(type='OneCycleLR', eta_max=0.1, total_steps=10, begin=0, end=10)
    assert scale_schedule(config([cycle], 10), 3)['param_scheduler'] == [
        dict(cycle, total_steps=3, end=3)
    ]
    restarts = dict(type='CosineRestartLR', periods=[4, 6], restart_weights=[1, 0.5], eta_min=0)
    assert scale_schedule(config([restarts], 10), 5)['param_scheduler'] == [
        dict(restarts, periods=[2, 3])
    ]
    assert scale_schedule(config([restarts], 10), 3)['param_scheduler'] == [
        dict(restarts, periods=[pytest.approx(1.2), pytest.approx(1.8)], convert_to_iter_based=True)
    ]


def test_step_lr_drops_where_the_config_drops():
    step = [dict(type='StepLR', by_epoch=True, step_size=3, gamma=0.5, begin=1)]
    short = scaled_curve(step, 10, 5, 20)  # drops at epochs 4 and 7 of 10: 2 and 3.5 of 5
    assert [i for i in range(1, 100) if short[i] != short[i - 1]] == [40, 70]


@pytest.mark.parametrize('epochs', [3, 5, 20])
def test_exponential_decays_as_much_per_epoch_stepped(epochs):
    """Stepped per epoch (its rate is per step), over whole epochs: the same total decay."""
    decay = [dict(type='ExponentialLR', by_epoch=True, gamma=0.9, begin=0, end=9)]
    short = scaled_curve(decay, 10, epochs, 20)
    assert short[-1] == pytest.approx(lr_curve(decay, 10, 20)[-1])
    assert all(a >= b for a, b in zip(short, short[1:]))


def test_one_cycle_total_steps_other_than_its_span_is_refused():
    cycle = dict(type='OneCycleLR', eta_max=0.1, total_steps=8, begin=0, end=10)
    with pytest.raises(ConfigError, match='total_steps=8 other than end - begin'):
        scale_schedule(config([cycle], 10), 3)


def test_per_optimizer_schedules_and_plateau():
    plateau = dict(type='ReduceOnPlateauLR', monitor='loss', patience=2)
    schedules = dict(generator=[dict(type='LinearLR', begin=0, end=2)], discriminator=[plateau])
    options = scale_schedule(config(schedules, 10), 5)
    assert options['param_scheduler'] == dict(
        generator=[dict(type='LinearLR', begin=0, end=1)], discriminator=[plateau]
    )


def test_same_length_changes_nothing_and_a_tiny_epoch_still_warms_up():
    assert scale_schedule(config(QUICKSTART_SCHEDULE, 10), 10) == {'train_cfg.max_epochs': 10}
    short = scaled_curve(QUICKSTART_SCHEDULE, 10, 1, 3)  # 3 iterations: warm-up takes two
    assert len(short) == 3 and short[0] < short[1] and max(short) > 0.05


@pytest.mark.parametrize('value', [0, -1, True, 1.5])
def test_bad_max_epochs(value):
    with pytest.raises(ArgumentError, match='--max-epochs must be an int >= 1'):
        scale_schedule(config([], 10), value)


def test_iteration_based_config_is_refused():
    cfg = Config(dict(train_cfg=dict(type='IterBasedTrainLoop', max_iters=100)))
    with pytest.raises(ConfigError, match='trains by iterations'):
        scale_schedule(cfg, 2)
