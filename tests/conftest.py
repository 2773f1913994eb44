"""Test-wide settings: one torch thread (measured much faster than two for small
models on 2 shared cores) and the se_plugin registries loaded."""

import os

os.environ.setdefault('OMP_NUM_THREADS', '1')

import pytest  # noqa: E402
import torch  # noqa: E402

import se_plugin  # noqa: E402,F401

torch.set_num_threads(1)

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def repo_root() -> str:
    return REPO_ROOT


@pytest.fixture(autouse=True)
def one_thread():
    """Each test starts with one thread and leaves it so (tools may set --threads)."""
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(1)


@pytest.fixture(scope='session')
def tiny_sweep(tmp_path_factory):
    """The finished tiny sweep of ``helpers.plan_tiny``: (plan, outcome, progress text).

    Shared by the sweep tests and the tests that need trained checkpoints.
    """
    from helpers import plan_tiny, run_plan

    torch.set_num_threads(1)
    plan = plan_tiny(tmp_path_factory.mktemp('sweep') / 'work')
    outcome, text = run_plan(plan)
    return plan, outcome, text
