"""se_plugin.cli.config: what ``--resume`` says when there is nothing to resume."""

import torch
from helpers import QUICKSTART

from se_plugin.cli.config import prepare_train_config


def resume(work_dir, capsys, **options):
    cfg = prepare_train_config(QUICKSTART, work_dir=str(work_dir), resume='auto', **options)
    out, err = capsys.readouterr()
    return cfg, [line for line in (out + err).splitlines() if line.strip()]


def test_nothing_to_resume_is_one_line_naming_the_work_dir(tmp_path, capsys):
    for work_dir in (tmp_path / 'new', tmp_path):  # missing, and there but empty
        cfg, lines = resume(work_dir, capsys)
        assert cfg.resume is False and not cfg.get('load_from')
        assert lines == [f'--resume: nothing to resume in {work_dir}: training starts from scratch']


def test_an_unusable_checkpoint_is_said_once_with_its_reason(tmp_path, capsys):
    from mmengine.logging import MMLogger

    MMLogger.get_instance(f'resume-{tmp_path.name}')  # the current logger, on this test's stdout
    (tmp_path / 'epoch_1.pth').write_bytes(b'not a checkpoint')
    cfg, lines = resume(tmp_path, capsys)
    assert cfg.resume is False
    assert len(lines) == 1
    assert f'no loadable checkpoint to resume from in {tmp_path}' in lines[0]
    assert 'training starts from scratch' in lines[0]


def test_load_from_of_a_fresh_work_dir_is_said(tmp_path, capsys):
    weights = tmp_path / 'weights.pth'
    torch.save({'state_dict': {}}, weights)
    cfg, lines = resume(tmp_path / 'w', capsys, cfg_options={'load_from': str(weights)})
    assert cfg.resume is False and cfg.load_from == str(weights)
    assert lines == [
        f'--resume: nothing to resume in {tmp_path / "w"}; loading the weights of '
        f'load_from={weights}'
    ]
