"""Checkpoints for the prediction tests: converted timm models and a quick-start model."""

import pytest
import torch
from helpers import QUICKSTART
from images import write_images
from mmengine.config import Config
from PIL import Image
from torch import nn

import se_plugin  # noqa: F401
from se_plugin.convert import convert_checkpoint
from se_plugin.models.builder import build_config_model


def decisive(model: nn.Module, batch: torch.Tensor, seed: int = 0) -> nn.Module:
    """Random weights that predict with confidence and differently per image: random
    BN affine parameters, BN statistics measured on ``batch`` (and its mirror
    images), a random classifier; eval mode. (Plain random weights give nearly
    uniform, image-independent probabilities: a weak comparison.)"""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.weight.uniform_(0.5, 1.5, generator=gen)
                m.bias.normal_(0, 0.2, generator=gen)
                m.reset_running_stats()
                m.momentum = None  # the plain mean over the batches
        model.train()
        model(torch.cat([batch, batch.flip(-1), batch.flip(-2)]))
        model.eval()
        for m in model.modules():
            if isinstance(m, nn.Linear):
                m.weight.normal_(0, 0.2, generator=gen)
    return model


@pytest.fixture(scope='package')
def image_files(tmp_path_factory):
    return write_images(tmp_path_factory.mktemp('images'))


@pytest.fixture(scope='package', params=['seresnet18', 'skresnet18'])
def timm_converted(request, tmp_path_factory, image_files):
    """``(timm model, its transform, converted checkpoint)`` for a small timm model of
    each block kind: SE in basic blocks, SK in basic blocks (split input)."""
    timm = pytest.importorskip('timm')
    from timm.data import create_transform, resolve_data_config

    arch = request.param
    with torch.random.fork_rng():  # the same weights whichever tests ran before
        torch.manual_seed(0)
        peer = timm.create_model(arch, pretrained=False)
    transform = create_transform(**resolve_data_config(model=peer))
    batch = torch.stack([transform(Image.open(f).convert('RGB')) for f in image_files])
    decisive(peer, batch)
    root = tmp_path_factory.mktemp('timm')
    torch.save(peer.state_dict(), root / f'{arch}.pth')
    converted = str(root / 'converted.pth')
    convert_checkpoint(str(root / f'{arch}.pth'), converted, 'timm', arch)
    return peer, transform, converted


@pytest.fixture(scope='package')
def quickstart_checkpoint(tmp_path_factory):
    """A quick-start model (1x28x28) saved as mmengine's Runner saves one: the
    config text in meta['cfg'], the classes in meta['dataset_meta']."""
    cfg = Config.fromfile(QUICKSTART)
    model = build_config_model(cfg)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.normal_(0, 0.1, generator=gen)
                m.running_var.uniform_(0.5, 1.5, generator=gen)
    path = str(tmp_path_factory.mktemp('quickstart') / 'epoch_1.pth')
    meta = dict(cfg=cfg.pretty_text, dataset_meta=dict(classes=tuple(str(d) for d in range(10))))
    torch.save(dict(state_dict=model.state_dict(), meta=meta), path)
    return path
