"""The activation memory a train step keeps for the backward, counted exactly."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .options import Options
from .steps import _autocast, _batch


def saved_activation_bytes(model: nn.Module, opts: Options, device: torch.device) -> int:
    """Bytes autograd keeps for the backward of one training forward (parameters excluded).

    Counted through ``torch.autograd.graph.saved_tensors_hooks``: every
    tensor saved for backward (by built-in ops and by custom
    ``autograd.Function`` alike), each storage once. This is the
    activation memory of a train step, the part attention layers add to;
    it is exact and the same on every run, unlike a timing.
    """
    x, y = _batch(model, opts, device)
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    saved = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in params:
            saved[storage.data_ptr()] = storage.nbytes()
        return tensor

    model.train()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), _autocast(device, opts.amp):
        loss = F.cross_entropy(model(x), y)
    del loss
    return sum(saved.values())
