"""The GPU check script: its parity part runs on CPU too; no CUDA device is a one-line error."""

import subprocess
import sys

import pytest
import torch

from se_plugin import gpu_check
from tests.conftest import REPO_ROOT


def test_parity_passes_on_cpu(monkeypatch):
    small = {k: v for k, v in gpu_check._parity_models().items() if 'small' not in k}
    monkeypatch.setattr(gpu_check, '_parity_models', lambda: small)
    lines = []
    assert gpu_check.check_parity('cpu', log=lines.append) == []
    assert len(lines) == len(small) * 2 * 2  # NCHW and channels_last, fp32 and bf16
    assert all(line.split()[-1] == 'ok' or ' ok ' in line for line in lines)


def test_parity_reports_a_broken_fused_path(monkeypatch):
    from se_plugin.models.layers.fused import FusedSqueezeScale

    small = {'SELayer avg': gpu_check._parity_models()['SELayer avg']}
    monkeypatch.setattr(gpu_check, '_parity_models', lambda: small)
    forward = FusedSqueezeScale.forward
    monkeypatch.setattr(
        FusedSqueezeScale, 'forward', staticmethod(lambda ctx, *a: forward(ctx, *a) * 1.01)
    )
    failures = gpu_check.check_parity('cpu', log=lambda line: None)
    assert 'SELayer avg NCHW fp32' in failures


@pytest.mark.skipif(torch.cuda.is_available(), reason='a CUDA device is here')
def test_no_cuda_device_is_a_one_line_error():
    result = subprocess.run(
        [sys.executable, 'tools/gpu_check.py', '--no-speed'],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert 'no CUDA device here' in result.stderr and 'Traceback' not in result.stderr
