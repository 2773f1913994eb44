import os
import pickle

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer, MessageHub
from mmengine.runner.checkpoint import _load_checkpoint

from se_plugin.runtime.allow_list import history_buffer_getattr, safe_globals
from se_plugin.runtime.checkpoint import CheckpointError, load_checkpoint_file


def mmengine_like_checkpoint():
    """What mmengine's Runner.save_checkpoint writes besides tensors."""
    hub = MessageHub.get_instance('se_plugin_test_ckpt')
    for i in range(3):
        hub.update_scalar('train/loss', 1.0 / (i + 1))
    hub.update_info('best_score', np.float64(0.9))
    hub.update_info('iter', np.int64(7))
    return {
        'meta': {'epoch': 1, 'seed': np.int64(3), 'dataset_meta': {'classes': ('0', '1')}},
        'state_dict': {'w': torch.randn(2, 2)},
        'message_hub': hub.state_dict(),
        'optimizer': {'state': {}, 'param_groups': [{'lr': 0.1, 'params': [0]}]},
        'extra': np.arange(4, dtype=np.float64),
    }


def test_mmengine_objects_load_with_weights_only(tmp_path):
    path = tmp_path / 'epoch_1.pth'
    torch.save(mmengine_like_checkpoint(), path)
    # the plain torch.load of torch >= 2.6 (weights_only=True) now accepts it ...
    ckpt = torch.load(path)
    buffer = ckpt['message_hub']['log_scalars']['train/loss']
    assert isinstance(buffer, HistoryBuffer) and buffer.mean() == pytest.approx(11 / 18)
    assert ckpt['message_hub']['runtime_info']['best_score'] == 0.9
    # ... and so do our loader and mmengine's (which we registered for local files)
    assert load_checkpoint_file(str(path))['meta']['seed'] == 3
    assert _load_checkpoint(str(path))['extra'].tolist() == [0.0, 1.0, 2.0, 3.0]


def test_allow_list_is_exact():
    names = {
        entry[1] if isinstance(entry, tuple) else entry.__qualname__ for entry in safe_globals()
    }
    assert names == {
        'HistoryBuffer',
        'builtins.getattr',
        'ndarray',
        'dtype',
        'Float64DType',
        'Int64DType',
        'numpy._core.multiarray._reconstruct',
        'numpy._core.multiarray.scalar',
        'numpy.core.multiarray._reconstruct',
        'numpy.core.multiarray.scalar',
    }


class _Reduce:
    def __init__(self, func, args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _save(path, obj):
    torch.save({'state_dict': {'w': torch.zeros(1)}, 'payload': obj}, path)


@pytest.mark.parametrize(
    'name, payload',
    [
        ('os_system', lambda marker: _Reduce(os.system, (f'touch {marker}',))),
        ('eval', lambda marker: _Reduce(eval, (f"open({str(marker)!r}, 'w')",))),
        ('exec', lambda marker: _Reduce(exec, (f"open({str(marker)!r}, 'w')",))),
        ('getattr_ndarray_tofile', lambda marker: _Reduce(getattr, (np.ndarray, 'tofile'))),
        (
            'getattr_historybuffer_init',
            lambda marker: _Reduce(getattr, (HistoryBuffer, '__init__')),
        ),
        (
            'getattr_register',
            lambda marker: _Reduce(getattr, (HistoryBuffer, 'register_statistics')),
        ),
        (
            'getattr_chain',
            lambda marker: _Reduce(
                getattr, (_Reduce(getattr, (HistoryBuffer, 'min')), '__globals__')
            ),
        ),
        (
            'subprocess',
            lambda marker: _Reduce(__import__('subprocess').call, (['touch', str(marker)],)),
        ),
    ],
)
def test_malicious_checkpoints_are_refused(tmp_path, name, payload):
    marker = tmp_path / f'pwned_{name}'
    path = tmp_path / f'{name}.pth'
    _save(path, payload(marker))
    with pytest.raises(CheckpointError, match=f'refused to load {path}'):
        load_checkpoint_file(str(path))
    with pytest.raises(CheckpointError):
        _load_checkpoint(str(path))  # mmengine's loader: resume, load_from, tools/test.py
    assert not marker.exists()


def test_plain_pickle_protocols_with_getattr_are_refused(tmp_path):
    path = tmp_path / 'raw.pth'
    with open(path, 'wb') as f:
        pickle.dump(_Reduce(getattr, (np.ndarray, 'tofile')), f, protocol=2)
    with pytest.raises(CheckpointError, match='refused'):
        load_checkpoint_file(str(path))


def test_restricted_getattr():
    assert history_buffer_getattr(HistoryBuffer, 'min') is HistoryBuffer.min
    with pytest.raises(pickle.UnpicklingError, match='only getattr'):
        history_buffer_getattr(HistoryBuffer, '__init__')
    with pytest.raises(pickle.UnpicklingError):
        history_buffer_getattr(np.ndarray, 'min')


@pytest.mark.parametrize('damage', ['truncate', 'garbage', 'empty'])
def test_corrupt_files_give_clear_error(tmp_path, damage):
    path = tmp_path / 'ckpt.pth'
    torch.save(mmengine_like_checkpoint(), path)
    data = path.read_bytes()
    path.write_bytes(
        {'truncate': data[: len(data) // 2], 'garbage': os.urandom(512), 'empty': b''}[damage]
    )
    with pytest.raises(CheckpointError, match='corrupt or truncated'):
        load_checkpoint_file(str(path))


def test_missing_file():
    with pytest.raises(FileNotFoundError, match='checkpoint not found: /no/such.pth'):
        load_checkpoint_file('/no/such.pth')
