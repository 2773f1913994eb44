"""se_plugin.cli.paths: an output path that cannot be written is one line before any work."""

import os

import pytest

from se_plugin.cli import paths
from se_plugin.cli.paths import check_output_dir, check_output_file
from se_plugin.runtime.errors import ConfigError


def test_writable_paths_pass(tmp_path):
    assert check_output_dir(str(tmp_path / 'new' / 'deeper')) == str(tmp_path / 'new' / 'deeper')
    assert check_output_file(str(tmp_path / 'new' / 'f.json')) == str(tmp_path / 'new' / 'f.json')
    assert not (tmp_path / 'new').exists()  # checking creates nothing


def test_file_and_directory_mixups(tmp_path):
    (tmp_path / 'file').write_text('x')
    with pytest.raises(ConfigError, match='exists and is not a directory'):
        check_output_dir(str(tmp_path / 'file'), '--out-dir')
    with pytest.raises(ConfigError, match=f'{tmp_path / "file"} is a file, not a directory'):
        check_output_dir(str(tmp_path / 'file' / 'sub'), '--work-dir')
    with pytest.raises(ConfigError, match='is a directory; give a file name'):
        check_output_file(str(tmp_path), '--out')
    with pytest.raises(ConfigError, match='is a file, not a directory'):
        check_output_file(str(tmp_path / 'file' / 'out.json'), '--out')


@pytest.fixture
def unwritable(tmp_path, monkeypatch):
    """``tmp_path / 'ro'``, which cannot be written to: chmod 555, or, as root (whom
    modes do not stop), os.access and os.statvfs answering as on a read-only mount."""
    ro = tmp_path / 'ro'
    ro.mkdir()
    if os.geteuid() != 0:
        ro.chmod(0o555)
        yield ro, 'permission denied'
        ro.chmod(0o755)
        return
    real_access, real_statvfs = os.access, os.statvfs

    def access(path, mode, **kwargs):
        return False if str(path).startswith(str(ro)) else real_access(path, mode, **kwargs)

    class _Flags:
        f_flag = os.ST_RDONLY

    def statvfs(path):
        return _Flags() if str(path).startswith(str(ro)) else real_statvfs(path)

    monkeypatch.setattr(paths.os, 'access', access)
    monkeypatch.setattr(paths.os, 'statvfs', statvfs)
    yield ro, 'read-only file system'


def test_unwritable_dirs_are_refused_naming_the_folder(unwritable):
    ro, reason = unwritable
    with pytest.raises(
        ConfigError, match=f'--work-dir {ro}/w/x: cannot write in {ro} \\({reason}\\)'
    ):
        check_output_dir(str(ro / 'w' / 'x'), '--work-dir')
    with pytest.raises(ConfigError, match=f'cannot write in {ro} \\({reason}\\)'):
        check_output_dir(str(ro), '--out-dir')
    with pytest.raises(ConfigError, match=f'--out {ro}/m.onnx: cannot write in {ro}'):
        check_output_file(str(ro / 'm.onnx'), '--out')
