"""One train step or inference pass of a model, on the same random batch for every model."""

from __future__ import annotations

from contextlib import nullcontext
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from .options import Options


def _sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def _autocast(device: torch.device, amp: bool):
    if not amp:
        return nullcontext()
    dtype = torch.float16 if device.type == 'cuda' else torch.bfloat16
    return torch.autocast(device.type, dtype=dtype)


def image_channels(model: nn.Module) -> int:
    """Channels of the images ``model`` takes: its first convolution's ``in_channels``
    (3 for a model without one). A config's model takes what its config says
    (the quick-start configs: 1), a peer model 3 unless built for another count."""
    for module in model.modules():
        if isinstance(module, nn.modules.conv._ConvNd):
            return module.in_channels
    return 3


def _batch(model: nn.Module, opts: Options, device: torch.device) -> tuple:
    """Random images with ``model``'s channels (in the chosen memory format) and labels
    of the classes it scores; from the same seed for every model."""
    gen = torch.Generator().manual_seed(opts.seed)
    shape = (opts.batch_size, image_channels(model), opts.input_size, opts.input_size)
    x = torch.randn(shape, generator=gen).to(device)
    was_training = model.training
    model.eval()
    with torch.no_grad():  # a config's head has its own class count, not --num-classes
        classes = model(x[:1]).shape[-1]
    model.train(was_training)
    y = torch.randint(0, classes, (opts.batch_size,), generator=gen).to(device)
    if opts.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return x, y


def make_step(model: nn.Module, mode: str, opts: Options, device: torch.device) -> Callable:
    """A closure running one train step or one inference pass of ``model``."""
    x, y = _batch(model, opts, device)
    run = torch.compile(model) if opts.compile else model
    model.train(mode == 'train')
    if mode == 'inference':

        def step() -> None:
            with torch.inference_mode(), _autocast(device, opts.amp):
                run(x)

        return step

    optimizer = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with _autocast(device, opts.amp):
            loss = F.cross_entropy(run(x), y)
        loss.backward()
        optimizer.step()

    return step
