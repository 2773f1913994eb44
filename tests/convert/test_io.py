"""se_plugin.convert.io: reading weights files safely."""

import pytest
import torch

import se_plugin  # noqa: F401  (registers se_plugin modules)
from se_plugin.convert import (
    ConversionError,
    convert_state_dict,
    read_source,
)

from .peers import mmpretrain_peer, randomize


def test_ddp_prefix_and_wrapped_state_dict(tmp_path):
    peer = randomize(mmpretrain_peer('seresnet50'))
    src = str(tmp_path / 'ddp.pth')
    sd = {'backbone.' + k: v for k, v in peer.backbone.state_dict().items()}
    torch.save({'state_dict': {'module.' + k: v for k, v in sd.items()}}, src)
    state_dict, meta = read_source(src)
    assert list(state_dict) == list(sd) and meta == {}
    converted, cfg = convert_state_dict(state_dict, 'mmpretrain', 'seresnet50', backbone_only=True)
    assert cfg['head'] is None and len(converted) == len(sd)


def test_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError, match='source checkpoint not found'):
        read_source(str(tmp_path / 'nope.pth'))
    path = str(tmp_path / 'list.pth')
    torch.save([1, 2], path)
    with pytest.raises(ConversionError, match='expected a dict of weights, got list'):
        read_source(path)
    torch.save({'state_dict': {'a': torch.zeros(1), 'b': 3}}, path)
    with pytest.raises(ConversionError, match='these entries are not tensors: b'):
        read_source(path)
    bad = tmp_path / 'bad.safetensors'
    bad.write_bytes(b'not a safetensors file')
    pytest.importorskip('safetensors')
    with pytest.raises(ConversionError, match='cannot read'):
        read_source(str(bad))
