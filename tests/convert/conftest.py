"""Fixtures shared by the se_plugin.convert tests."""

import pytest
import torch

import se_plugin  # noqa: F401  (registers se_plugin modules)
from se_plugin.convert import build_model

from .peers import logits, mmpretrain_peer, randomize


@pytest.fixture(scope='module')
def seresnet18_files(tmp_path_factory):
    """A random timm seresnet18 as .pth and .safetensors, and its logits."""
    timm = pytest.importorskip('timm')
    root = tmp_path_factory.mktemp('timm')
    peer = randomize(timm.create_model('seresnet18', pretrained=False))
    pth = str(root / 'seresnet18.pth')
    torch.save(peer.state_dict(), pth)
    files = {'pth': pth}
    try:
        from safetensors.torch import save_file

        files['safetensors'] = str(root / 'seresnet18.safetensors')
        save_file(peer.state_dict(), files['safetensors'])
    except ImportError:
        pass
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    return files, x, logits(peer, x)


@pytest.fixture(scope='package')
def mm_r50():
    """An mmpretrain SE-ResNet-50 state dict and our model's reference state dict."""
    return mmpretrain_peer('seresnet50').state_dict(), build_model('mmpretrain', 'seresnet50')
