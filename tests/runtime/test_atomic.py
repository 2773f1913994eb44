"""atomic_open: the one writer of finished files (unique temp names, cleaned on failure)."""

import os

import pytest
import torch

from se_plugin.runtime.atomic import atomic_open


def test_text_and_binary_writes_leave_only_the_file(tmp_path):
    with atomic_open(tmp_path / 'a.json', 'w') as f:
        f.write('{"ok": 1}')
    with atomic_open(tmp_path / 'w.pth') as f:
        torch.save({'w': torch.ones(2)}, f)
    assert sorted(os.listdir(tmp_path)) == ['a.json', 'w.pth']
    assert torch.load(tmp_path / 'w.pth')['w'].sum() == 2


def test_a_users_dst_tmp_file_is_never_touched(tmp_path):
    (tmp_path / 'out.pth.tmp').write_text('mine')
    with atomic_open(tmp_path / 'out.pth') as f:
        f.write(b'new')
    assert (tmp_path / 'out.pth.tmp').read_text() == 'mine'


def test_failure_keeps_the_old_file_and_removes_the_temp(tmp_path):
    (tmp_path / 'r.json').write_text('old')
    with pytest.raises(OSError, match='No space left'), atomic_open(tmp_path / 'r.json', 'w') as f:
        f.write('half')
        raise OSError(28, 'No space left on device')
    assert os.listdir(tmp_path) == ['r.json']
    assert (tmp_path / 'r.json').read_text() == 'old'


def test_temp_names_are_unique_per_write(tmp_path):
    with atomic_open(tmp_path / 'x') as a, atomic_open(tmp_path / 'x') as b:
        assert a.name != b.name
        assert os.path.dirname(a.name) == str(tmp_path)
        a.write(b'a')
        b.write(b'b')
    assert (tmp_path / 'x').read_bytes() == b'a'  # the last one to finish wins
    assert os.listdir(tmp_path) == ['x']


@pytest.mark.parametrize('mode', ['a', 'r', 'wb+'])
def test_bad_mode(tmp_path, mode):
    with pytest.raises(ValueError, match='mode must be'), atomic_open(tmp_path / 'x', mode):
        pass


def test_directory_target_is_refused_before_writing(tmp_path):
    with pytest.raises(IsADirectoryError, match='is a directory'), atomic_open(tmp_path):
        pass
    assert os.listdir(tmp_path) == []
