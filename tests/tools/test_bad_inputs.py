"""Bad input through ``tools/train.py`` and ``tools/test.py``: one line on stderr, exit 2.

Each case runs the tool's ``__main__`` in this process (``runpy``, patched
``sys.argv``) and expects ``SystemExit(2)`` with exactly one non-empty line on
stderr, starting with ``error:``, naming what is wrong, and no traceback. A
handful also run as real subprocesses (where import-time warnings, worker
processes and the interpreter's own exit path are real). Malicious checkpoints
must be refused before anything runs: the file they would create never
appears.
"""

import json
import os
import pickle
import runpy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
QS = str(REPO / 'configs/quickstart/se_resnet18_mnist5k.py')
# keeps a case that would (wrongly) start training small
SHRINK = [
    '--cfg-options',
    'train_dataloader.dataset.indices=16',
    'val_dataloader.dataset.indices=16',
    'test_dataloader.dataset.indices=16',
    'train_cfg.max_epochs=1',
    'train_dataloader.batch_size=8',
]


class _Reduce:
    def __init__(self, func, args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


@pytest.fixture(scope='module')
def files(tmp_path_factory):
    """Bad configs, checkpoints and data, created once."""
    d = tmp_path_factory.mktemp('bad_inputs')
    f = {'dir': str(d)}

    def write(name, text):
        (d / name).write_text(text)
        f[name] = str(d / name)

    base = f'_base_ = [{QS!r}]\n'
    write('syntax.py', base + 'model = dict(type=\n')
    write('name_error.py', base + 'model = dict(depth=undefined_name)\n')
    write('raises.py', base + 'x = 1 / 0\n')
    write('missing_base.py', "_base_ = ['./no_such_base.py']\n")
    write('bad.json', '{"model": ')
    write('list.json', '[1, 2]')
    write('config.txt', 'model = dict()\n')
    write('unknown_model.py', base + "model = dict(type='NoSuchClassifier')\n")
    write('no_val_loop.py', base + 'val_cfg = None\nval_dataloader = None\nval_evaluator = None\n')
    write('not_a_dir', 'a file where a work dir should be')
    # scalars.json files plot_curves.py cannot use
    write('scalars_empty.json', '')
    write('scalars_list.json', '[1, 2]\n')
    write('scalars_no_step.json', '{"loss": 1.0}\n{"loss": 0.5}\n')
    write('scalars_text_values.json', '{"step": 1, "loss": "low"}\n')
    write('scalars_not_json.json', '{"step": 1, "loss": \n')
    (d / 'scalars_binary.json').write_bytes(b'\xff\xfe\x00')
    f['scalars_binary.json'] = str(d / 'scalars_binary.json')

    ckpt = {
        'meta': {'epoch': 1, 'iter': 4, 'seed': np.int64(0)},
        'state_dict': {'w': torch.randn(64, 64)},
        'message_hub': {},
        'optimizer': {'state': {}, 'param_groups': []},
    }
    torch.save(ckpt, d / 'good.pth')
    data = (d / 'good.pth').read_bytes()
    (d / 'truncated.pth').write_bytes(data[: len(data) // 2])
    (d / 'garbage.pth').write_bytes(os.urandom(1024))
    (d / 'empty.pth').write_bytes(b'')
    torch.save({'w': torch.zeros(2)}, d / 'weights_only.pth')
    with open(d / 'pickle.pth', 'wb') as fh:
        pickle.dump({'state_dict': {}}, fh)
    for name in ('truncated.pth', 'garbage.pth', 'empty.pth', 'weights_only.pth', 'pickle.pth'):
        f[name] = str(d / name)
    f['good.pth'] = str(d / 'good.pth')

    # malicious checkpoints: unpickling them would create the marker file
    f['markers'] = []
    payloads = {
        'os_system': lambda m: _Reduce(os.system, (f'touch {m}',)),
        'eval': lambda m: _Reduce(eval, (f"open({m!r}, 'w')",)),
        'subprocess': lambda m: _Reduce(subprocess.call, (['touch', m],)),
    }
    for name, payload in payloads.items():
        marker = str(d / f'pwned_{name}')
        torch.save({'meta': {}, 'state_dict': {'w': payload(marker)}}, d / f'evil_{name}.pth')
        f[f'evil_{name}.pth'] = str(d / f'evil_{name}.pth')
        f['markers'].append(marker)

    # a folder dataset (mmpretrain CustomDataset) with one corrupt PNG
    import cv2

    for cls in ('a', 'b'):
        (d / 'folder' / cls).mkdir(parents=True)
        for i in range(3):
            img = np.full((8, 8, 3), 40 * i, np.uint8)
            cv2.imwrite(str(d / 'folder' / cls / f'{i}.png'), img)
    good_png = (d / 'folder/a/0.png').read_bytes()
    (d / 'folder/b/1.png').write_bytes(good_png[: len(good_png) // 3])  # truncated PNG
    (d / 'folder/b/2.png').write_bytes(b'\x89PNG\r\n\x1a\n' + os.urandom(40))  # garbage
    folder = f"""
_base_ = [{QS!r}]
model = dict(backbone=dict(in_channels=3), head=dict(num_classes=2))
data_preprocessor = dict(num_classes=2, mean=[0, 0, 0], std=[1, 1, 1], to_rgb=False)
pipeline = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]
train_dataloader = dict(batch_size=6, num_workers=NUM_WORKERS, persistent_workers=False,
    dataset=dict(_delete_=True, type='CustomDataset', data_root={str(d / 'folder')!r},
                 pipeline=pipeline))
val_dataloader = dict(batch_size=6, dataset=dict(_delete_=True, type='CustomDataset',
    data_root={str(d / 'folder')!r}, pipeline=pipeline))
test_dataloader = val_dataloader
train_cfg = dict(max_epochs=1)
"""
    write('folder.py', folder.replace('NUM_WORKERS', '0'))
    write('folder_workers.py', folder.replace('NUM_WORKERS', '2'))

    # folder datasets: a 0-byte image; train and val with different class folders
    for split, classes in (('train', ('a', 'b')), ('val', ('a', 'c'))):
        for cls in classes:
            (d / 'classes' / split / cls).mkdir(parents=True)
            (d / 'classes' / split / cls / '0.png').write_bytes(good_png)
    (d / 'empty' / 'a').mkdir(parents=True)
    (d / 'empty' / 'a' / '0.png').write_bytes(b'')
    empty = folder.replace('NUM_WORKERS', '0').replace(str(d / 'folder'), str(d / 'empty'))
    write('folder_empty.py', empty)
    classes = (
        folder.replace('NUM_WORKERS', '0')
        .replace(
            f'data_root={str(d / "folder")!r},',
            f"data_root={str(d / 'classes')!r}, data_prefix='train',",
            1,
        )
        .replace(
            f'data_root={str(d / "folder")!r},',
            f"data_root={str(d / 'classes')!r}, data_prefix='val',",
            1,
        )
    )
    write('folder_classes.py', classes)

    # checkpoints of the quick-start model: exact, and each way of not fitting
    write('typo_key.py', base + 'laod_from = None\n')
    sd = _quickstart_state_dict()
    variants = {
        'qs.pth': sd,
        'qs_missing.pth': {k: v for k, v in sd.items() if k != 'head.fc.bias'},
        'qs_unexpected.pth': {**sd, 'head.extra.weight': torch.zeros(3)},
        'qs_mismatched.pth': {**sd, 'head.fc.weight': torch.zeros(5, 256)},
        'foreign.pth': {
            'fc.weight': torch.zeros(10, 2048),
            'conv1.weight': torch.zeros(64, 3, 7, 7),
        },
    }
    for name, state_dict in variants.items():
        torch.save({'meta': {}, 'state_dict': state_dict}, d / name)
        f[name] = str(d / name)
    init = f"dict(type='Pretrained', checkpoint={f['foreign.pth']!r})"
    pretrained = f'model = dict(backbone=dict(init_cfg={init}))\n'
    write('init_foreign.py', base + pretrained)
    return f


def _quickstart_state_dict():
    from mmengine.config import Config
    from mmengine.registry import DefaultScope

    from se_plugin.registry import MODELS

    cfg = Config.fromfile(QS)
    with DefaultScope.overwrite_default_scope('se_plugin'):
        model = MODELS.build(cfg.model)
    return model.state_dict()


def _forget_mmengine_instances():
    """Drop the loggers, visualizers, message hubs and scopes earlier in-process
    runs created: a Runner started in the same second reuses them by name, and
    theirs still write to an earlier test's (closed) captured stdout."""
    from mmengine.utils import ManagerMixin

    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    for cls in subclasses(ManagerMixin):
        for instance in list(cls._instance_dict.values()):
            for handler in getattr(instance, 'handlers', []):
                handler.close()
        cls._instance_dict.clear()


def run_tool(tool, argv, capsys, monkeypatch):
    """Run tools/<tool> in-process; return (exit code, stderr)."""
    monkeypatch.setattr(sys, 'argv', [tool, *argv])
    monkeypatch.chdir(REPO)
    _forget_mmengine_instances()
    capsys.readouterr()
    try:
        with pytest.raises(SystemExit) as exc:
            runpy.run_path(str(REPO / 'tools' / tool), run_name='__main__')
    finally:
        _forget_mmengine_instances()
    return exc.value.code, capsys.readouterr().err


def assert_one_line_error(code, err, match):
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1, err
    assert lines[0].startswith('error: '), err
    assert 'Traceback' not in err
    assert match.lower() in lines[0].lower(), lines[0]


def W(tmp):  # noqa: N802  a fresh work dir per case
    return ['--work-dir', str(tmp)]


# (case id, tool, argv builder(files, work dir), expected text in the message)
CASES = [
    # --- arguments ---
    ('no_args', 'train.py', lambda f, w: [], 'required: config'),
    ('unknown_flag', 'train.py', lambda f, w: [QS, '--bogus'], 'unrecognized arguments'),
    ('bad_launcher', 'train.py', lambda f, w: [QS, '--launcher', 'k8s'], 'invalid choice'),
    ('bad_local_rank', 'train.py', lambda f, w: [QS, '--local-rank', 'x'], 'invalid int'),
    ('cfg_option_no_equals', 'train.py', lambda f, w: [QS, '--cfg-options', 'foo'], 'KEY=VALUE'),
    ('cfg_option_empty_key', 'train.py', lambda f, w: [QS, '--cfg-options', '=3'], 'KEY=VALUE'),
    (
        'cfg_option_empty_part',
        'train.py',
        lambda f, w: [QS, '--cfg-options', 'a..b=1'],
        'KEY=VALUE',
    ),
    (
        'cfg_options_no_value',
        'train.py',
        lambda f, w: [QS, '--cfg-options'],
        'expected at least one',
    ),
    ('test_no_checkpoint_arg', 'test.py', lambda f, w: [QS], 'required: checkpoint'),
    (
        'test_bad_launcher',
        'test.py',
        lambda f, w: [QS, f['good.pth'], '--launcher', 'x'],
        'invalid choice',
    ),
    (
        'launcher_slurm_cpu',
        'train.py',
        lambda f, w: [QS, *W(w), '--launcher', 'slurm'],
        'needs CUDA',
    ),
    ('launcher_mpi_cpu', 'train.py', lambda f, w: [QS, *W(w), '--launcher', 'mpi'], 'needs CUDA'),
    (
        'launcher_pytorch_no_env',
        'train.py',
        lambda f, w: [QS, *W(w), '--launcher', 'pytorch', *SHRINK],
        'torchrun',
    ),
    ('amp_without_cuda', 'train.py', lambda f, w: [QS, *W(w), '--amp'], 'needs a CUDA device'),
    # --- config files ---
    ('config_missing', 'train.py', lambda f, w: ['/no/such/config.py'], 'config file not found'),
    ('config_is_dir', 'train.py', lambda f, w: [f['dir']], 'config file not found'),
    ('config_syntax_error', 'train.py', lambda f, w: [f['syntax.py']], 'SyntaxError'),
    ('config_name_error', 'train.py', lambda f, w: [f['name_error.py']], 'undefined_name'),
    ('config_raises', 'train.py', lambda f, w: [f['raises.py']], 'ZeroDivisionError'),
    ('config_missing_base', 'train.py', lambda f, w: [f['missing_base.py']], 'no_such_base'),
    ('config_bad_json', 'train.py', lambda f, w: [f['bad.json']], 'cannot read config'),
    ('config_json_list', 'train.py', lambda f, w: [f['list.json']], 'cannot read config'),
    ('config_txt', 'train.py', lambda f, w: [f['config.txt']], 'cannot read config'),
    (
        'test_config_syntax_error',
        'test.py',
        lambda f, w: [f['syntax.py'], f['good.pth']],
        'SyntaxError',
    ),
    # --- --cfg-options keys and values ---
    (
        'unknown_top_key',
        'train.py',
        lambda f, w: [QS, '--cfg-options', 'modle.backbone.depth=50'],
        "no 'modle'",
    ),
    (
        'unknown_nested_key',
        'train.py',
        lambda f, w: [QS, '--cfg-options', 'model.backbon.depth=50'],
        "no 'model.backbon'",
    ),
    (
        'key_through_str',
        'train.py',
        lambda f, w: [QS, '--cfg-options', 'model.type.x=1'],
        'not a dict or list',
    ),
    (
        'list_index_out_of_range',
        'train.py',
        lambda f, w: [QS, '--cfg-options', 'train_pipeline.7.type=X'],
        "no 'train_pipeline.7'",
    ),
    (
        'test_unknown_key',
        'test.py',
        lambda f, w: [QS, f['good.pth'], '--cfg-options', 'tst_dataloader.x=1'],
        "no 'tst_dataloader'",
    ),
    (
        'ratio_zero',
        'train.py',
        lambda f, w: [QS, *W(w), *SHRINK, 'model.backbone.attn_cfg.ratio=0'],
        'ratio must be a finite number > 0',
    ),
    (
        'ratio_negative',
        'train.py',
        lambda f, w: [QS, *W(w), *SHRINK, 'model.backbone.attn_cfg.ratio=-4'],
        'ratio must be a finite number > 0',
    ),
    (
        'ratio_string',
        'train.py',
        lambda f, w: [QS, *W(w), *SHRINK, 'model.backbone.attn_cfg.ratio=abc'],
        'ratio must be a finite number > 0',
    ),
    (
        'ratio_too_large',
        'train.py',
        lambda f, w: [QS, *W(w), *SHRINK, 'model.backbone.attn_cfg.squeeze_channels=999'],
        'squeeze width',
    ),
    (
        'depth_17',
        'train.py',
        lambda f, w: [QS, *W(w), *SHRINK, 'model.backbone.depth=17'],
        'depth must be one of',
    ),
    (
        'se_position_unknown',
        'train.py',
        lambda f, w: [QS, *W(w), *SHRINK, 'model.backbone.attn_position=middle'],
        'attn_position',
    ),
    (
        'se_stages_short',
        'train.py',
        lambda f, w: [QS, *W(w), *SHRINK, 'model.backbone.attn_stages=[True,False]'],
        'attn_stages',
    ),
    (
        'se_stages_ints',
        'train.py',
        lambda f, w: [QS, *W(w), *SHRINK, 'model.backbone.attn_stages=[1,0,1,1]'],
        'attn_stages',
    ),
    (
        'se_type_unknown',
        'train.py',
        lambda f, w: [QS, *W(w), *SHRINK, 'model.backbone.attn_cfg.type=SELayr'],
        'SELayr',
    ),
    (
        'se_act_not_dict',
        'train.py',
        lambda f, w: [QS, *W(w), *SHRINK, 'model.backbone.attn_cfg.act_cfg=Softmax'],
        'act_cfg must be',
    ),
    (
        'se_squeeze_unknown',
        'train.py',
        lambda f, w: [QS, *W(w), *SHRINK, 'model.backbone.attn_cfg.squeeze=median'],
        'squeeze must be one of',
    ),
    (
        'frozen_stages_9',
        'train.py',
        lambda f, w: [QS, *W(w), *SHRINK, 'model.backbone.frozen_stages=9'],
        'frozen_stages',
    ),
    (
        'strides_zero',
        'train.py',
        lambda f, w: [QS, *W(w), *SHRINK, 'model.backbone.strides=[1,0,2,2]'],
        'strides[1]',
    ),
    (
        'drop_path_1',
        'train.py',
        lambda f, w: [QS, *W(w), *SHRINK, 'model.backbone.drop_path_rate=1.0'],
        'drop_path_rate',
    ),
    (
        'base_channels_zero',
        'train.py',
        lambda f, w: [QS, *W(w), *SHRINK, 'model.backbone.base_channels=0'],
        'base_channels',
    ),
    (
        'backbone_type_unknown',
        'train.py',
        lambda f, w: [QS, *W(w), *SHRINK, 'model.backbone.type=NoSuchNet'],
        'NoSuchNet',
    ),
    (
        'model_type_unknown',
        'train.py',
        lambda f, w: [f['unknown_model.py'], *W(w), *SHRINK],
        'NoSuchClassifier',
    ),
    (
        'num_classes_zero',
        'train.py',
        lambda f, w: [QS, *W(w), *SHRINK, 'model.head.num_classes=0'],
        'num_classes',
    ),
    (
        'dataset_type_unknown',
        'train.py',
        lambda f, w: [QS, *W(w), *SHRINK, 'train_dataloader.dataset.type=NoSuchSet'],
        'NoSuchSet',
    ),
    (
        'dataset_split_unknown',
        'train.py',
        lambda f, w: [QS, *W(w), *SHRINK, 'train_dataloader.dataset.split=valid'],
        'split must be one of',
    ),
    (
        'data_root_missing',
        'train.py',
        lambda f, w: [QS, *W(w), *SHRINK, 'train_dataloader.dataset.data_root=/no/data'],
        'data not found',
    ),
    (
        'val_data_root_missing',
        'train.py',
        lambda f, w: [QS, *W(w), *SHRINK, 'val_dataloader.dataset.data_root=/no/data'],
        'val_dataloader',
    ),
    (
        'test_data_root_missing',
        'test.py',
        lambda f, w: [
            QS,
            f['good.pth'],
            *W(w),
            '--cfg-options',
            'test_dataloader.dataset.data_root=/no/data',
        ],
        'test_dataloader',
    ),
    (
        'data_file_missing',
        'train.py',
        lambda f, w: [QS, *W(w), *SHRINK, 'train_dataloader.dataset.data_file=/no/mnist.csv.gz'],
        '/no/mnist.csv.gz',
    ),
    (
        'batch_size_zero',
        'train.py',
        lambda f, w: [QS, *W(w), *SHRINK, 'train_dataloader.batch_size=0'],
        'batch_size',
    ),
    (
        'batch_size_string',
        'train.py',
        lambda f, w: [QS, *W(w), *SHRINK, 'train_dataloader.batch_size=big'],
        'batch_size',
    ),
    (
        'num_workers_negative',
        'train.py',
        lambda f, w: [QS, *W(w), *SHRINK, 'train_dataloader.num_workers=-1'],
        'num_workers',
    ),
    (
        'indices_string',
        'train.py',
        lambda f, w: [QS, *W(w), *SHRINK, 'train_dataloader.dataset.indices=abc'],
        'indices',
    ),
    (
        'lr_negative',
        'train.py',
        lambda f, w: [QS, *W(w), *SHRINK, 'optim_wrapper.optimizer.lr=-0.1'],
        'optimizer.lr must be a finite number > 0',
    ),
    (
        'optimizer_unknown',
        'train.py',
        lambda f, w: [QS, *W(w), *SHRINK, 'optim_wrapper.optimizer.type=NoSuchOpt'],
        'NoSuchOpt',
    ),
    (
        'max_epochs_zero',
        'train.py',
        lambda f, w: [QS, *W(w), *SHRINK, 'train_cfg.max_epochs=0'],
        'max_epochs',
    ),
    (
        'max_epochs_float',
        'train.py',
        lambda f, w: [QS, *W(w), *SHRINK, 'train_cfg.max_epochs=2.5'],
        'max_epochs',
    ),
    (
        'val_interval_zero',
        'train.py',
        lambda f, w: [QS, *W(w), *SHRINK, 'train_cfg.val_interval=0'],
        'val_interval',
    ),
    (
        'threads_zero',
        'train.py',
        lambda f, w: [QS, *W(w), *SHRINK, 'env_cfg.torch_num_threads=0'],
        'torch_num_threads',
    ),
    (
        'threads_string',
        'train.py',
        lambda f, w: [QS, *W(w), *SHRINK, 'env_cfg.torch_num_threads=many'],
        'torch_num_threads',
    ),
    ('seed_string', 'train.py', lambda f, w: [QS, *W(w), *SHRINK, 'randomness.seed=abc'], 'seed'),
    (
        'hook_type_unknown',
        'train.py',
        lambda f, w: [QS, *W(w), *SHRINK, 'default_hooks.checkpoint.type=NoSuchHook'],
        'NoSuchHook',
    ),
    (
        'metric_unknown',
        'train.py',
        lambda f, w: [QS, *W(w), *SHRINK, 'val_evaluator.type=NoSuchMetric'],
        'NoSuchMetric',
    ),
    (
        'auto_scale_lr_missing',
        'train.py',
        lambda f, w: [QS, *W(w), '--auto-scale-lr', '--cfg-options', 'auto_scale_lr=None'],
        'auto_scale_lr',
    ),
    (
        'work_dir_is_file',
        'train.py',
        lambda f, w: [QS, '--work-dir', f['not_a_dir']],
        'not a directory',
    ),
    (
        'test_without_test_loader',
        'test.py',
        lambda f, w: [QS, f['good.pth'], *W(w), '--cfg-options', 'test_dataloader=None'],
        'no test_dataloader',
    ),
    # --- checkpoints ---
    (
        'resume_missing',
        'train.py',
        lambda f, w: [QS, *W(w), '--resume', '/no/such.pth'],
        'checkpoint not found',
    ),
    (
        'resume_dir',
        'train.py',
        lambda f, w: [QS, *W(w), '--resume', f['dir']],
        'checkpoint not found',
    ),
    (
        'resume_truncated',
        'train.py',
        lambda f, w: [QS, *W(w), '--resume', f['truncated.pth']],
        'corrupt or truncated',
    ),
    (
        'resume_garbage',
        'train.py',
        lambda f, w: [QS, *W(w), '--resume', f['garbage.pth']],
        'corrupt or truncated',
    ),
    (
        'resume_empty',
        'train.py',
        lambda f, w: [QS, *W(w), '--resume', f['empty.pth']],
        'corrupt or truncated',
    ),
    (
        'resume_weights_only',
        'train.py',
        lambda f, w: [QS, *W(w), '--resume', f['weights_only.pth']],
        'not an mmengine training checkpoint',
    ),
    (
        'resume_plain_pickle',
        'train.py',
        lambda f, w: [QS, *W(w), '--resume', f['pickle.pth']],
        'pickle.pth',
    ),
    (
        'load_from_missing',
        'train.py',
        lambda f, w: [QS, *W(w), '--cfg-options', 'load_from=/no/such.pth'],
        'checkpoint not found',
    ),
    (
        'load_from_truncated',
        'train.py',
        lambda f, w: [QS, *W(w), '--cfg-options', f'load_from={f["truncated.pth"]}'],
        'corrupt or truncated',
    ),
    (
        'test_ckpt_missing',
        'test.py',
        lambda f, w: [QS, '/no/such.pth', *W(w)],
        'checkpoint not found',
    ),
    (
        'test_ckpt_truncated',
        'test.py',
        lambda f, w: [QS, f['truncated.pth'], *W(w)],
        'corrupt or truncated',
    ),
    (
        'test_ckpt_garbage',
        'test.py',
        lambda f, w: [QS, f['garbage.pth'], *W(w)],
        'corrupt or truncated',
    ),
    (
        'test_ckpt_empty',
        'test.py',
        lambda f, w: [QS, f['empty.pth'], *W(w)],
        'corrupt or truncated',
    ),
    # --- data ---
    (
        'corrupt_image_train',
        'train.py',
        lambda f, w: [f['folder.py'], *W(w)],
        'cannot decode image',
    ),
    (
        'corrupt_image_test',
        'test.py',
        lambda f, w: [f['folder.py'], f['good.pth'], *W(w), '--partial-load'],
        'cannot decode image',
    ),
    ('zero_byte_image', 'train.py', lambda f, w: [f['folder_empty.py'], *W(w)], 'empty (0 bytes)'),
    (
        'folder_classes_differ',
        'train.py',
        lambda f, w: [f['folder_classes.py'], *W(w)],
        'only in the first: b; only in the second: c',
    ),
    (
        'indices_out_of_range',
        'train.py',
        lambda f, w: [QS, *W(w), *SHRINK, 'train_dataloader.dataset.indices=[0,99999]'],
        '99999 is out of range',
    ),
    # --- issue 13: values and keys that would mean nothing ---
    (
        'se_stages_unbalanced',
        'train.py',
        lambda f, w: [QS, *W(w), *SHRINK, 'model.backbone.attn_stages=(True,True'],
        "unbalanced brackets (missing ')')",
    ),
    (
        'cfg_option_extra_bracket',
        'train.py',
        lambda f, w: [QS, *W(w), *SHRINK, 'model.backbone.attn_stages=[True]]'],
        "unbalanced brackets (unexpected ']')",
    ),
    (
        'base_batch_size_zero',
        'train.py',
        lambda f, w: [QS, *W(w), '--auto-scale-lr', *SHRINK, 'auto_scale_lr.base_batch_size=0'],
        'base_batch_size must be an int >= 1',
    ),
    (
        'lr_inf',
        'train.py',
        lambda f, w: [QS, *W(w), *SHRINK, 'optim_wrapper.optimizer.lr=inf'],
        'lr must be a finite number > 0, got inf',
    ),
    (
        'lr_nan',
        'train.py',
        lambda f, w: [QS, *W(w), *SHRINK, 'optim_wrapper.optimizer.lr=nan'],
        'lr must be a finite number > 0, got nan',
    ),
    (
        'std_zero',
        'train.py',
        lambda f, w: [QS, *W(w), *SHRINK, 'data_preprocessor.std=[0]'],
        'data_preprocessor.std[0] must be a finite number > 0',
    ),
    (
        'top_key_typo_option',
        'train.py',
        lambda f, w: [QS, *W(w), '--cfg-options', 'laod_from=/x.pth'],
        "did you mean 'load_from'",
    ),
    (
        'top_key_typo_file',
        'train.py',
        lambda f, w: [f['typo_key.py'], *W(w)],
        "unknown top-level config key 'laod_from' (did you mean 'load_from'?)",
    ),
    (
        'env_cfg_key_typo',
        'train.py',
        lambda f, w: [QS, *W(w), *SHRINK, 'env_cfg.torch_num_thread=1'],
        "did you mean 'torch_num_threads'",
    ),
    (
        'train_pipeline_copied',
        'train.py',
        lambda f, w: [QS, *W(w), *SHRINK, 'train_pipeline.0.padding=4'],
        'set train_dataloader.dataset.pipeline.0.padding',
    ),
    ('max_epochs_flag_zero', 'train.py', lambda f, w: [QS, '--max-epochs', '0'], 'int >= 1'),
    (
        'work_dir_parent_is_file',
        'train.py',
        lambda f, w: [QS, '--work-dir', f['not_a_dir'] + '/sub'],
        'is a file, not a directory',
    ),
    # --- what the loops use, checked before their first batch ---
    (
        'val_topk_above_classes',
        'train.py',
        lambda f, w: [QS, *W(w), *SHRINK, 'val_evaluator.topk=(1,20)'],
        'val_evaluator: Accuracy topk=(1, 20) asks for top-20 accuracy, but the model scores '
        '10 classes',
    ),
    (
        'test_topk_above_classes',
        'test.py',
        lambda f, w: [QS, f['qs.pth'], *W(w), '--cfg-options', 'test_evaluator.topk=12'],
        'asks for top-12 accuracy, but the model scores 10 classes',
    ),
    (
        'lr_overflows_fp32',
        'train.py',
        lambda f, w: [QS, *W(w), *SHRINK, 'optim_wrapper.optimizer.lr=1e39'],
        'lr 1e+39, which AdamW on float32 parameters overflows in its first step',
    ),
    (
        'lr_times_scale_overflows',
        'train.py',
        lambda f, w: [
            QS,
            *W(w),
            '--auto-scale-lr',
            *SHRINK,
            'optim_wrapper.optimizer.lr=1e37',
            'auto_scale_lr.base_batch_size=1',
        ],
        'lr 8e+37 (scaled by auto_scale_lr), which AdamW on float32 parameters overflows',
    ),  # fmt: skip
    # --- checkpoints that do not fit the model ---
    (
        'test_ckpt_missing_key',
        'test.py',
        lambda f, w: [QS, f['qs_missing.pth'], *W(w)],
        'missing 1 (head.fc.bias)',
    ),
    (
        'test_ckpt_unexpected_key',
        'test.py',
        lambda f, w: [QS, f['qs_unexpected.pth'], *W(w)],
        'unexpected 1 (head.extra.weight)',
    ),
    (
        'test_ckpt_mismatched_shape',
        'test.py',
        lambda f, w: [QS, f['qs_mismatched.pth'], *W(w)],
        'mismatched 1 (head.fc.weight)',
    ),
    (
        'test_ckpt_foreign',
        'test.py',
        lambda f, w: [QS, f['foreign.pth'], *W(w)],
        'does not fit the model',
    ),
    ('test_ckpt_other_model', 'test.py', lambda f, w: [QS, f['good.pth'], *W(w)], 'loaded 0/'),
    (
        'load_from_foreign',
        'train.py',
        lambda f, w: [QS, *W(w), *SHRINK, f'load_from={f["foreign.pth"]}'],
        'matches almost nothing',
    ),
    (
        'init_cfg_pretrained_foreign',
        'train.py',
        lambda f, w: [f['init_foreign.py'], *W(w), *SHRINK],
        'init_cfg Pretrained',
    ),
    # --- the other tools ---
    (
        'benchmark_batch_zero',
        'benchmark.py',
        lambda f, w: ['torchvision.resnet18', '--batch', '0'],
        '--batch: must be an int >= 1',
    ),
    (
        'benchmark_out_is_dir',
        'benchmark.py',
        lambda f, w: ['torchvision.resnet18', '--out', f['dir']],
        'is a directory',
    ),
    (
        'excitation_out_dir_is_file',
        'analysis/excitation.py',
        lambda f, w: [QS, f['qs.pth'], '--out-dir', f['not_a_dir']],
        'is not a directory',
    ),
    # --- tools/analysis/plot_curves.py on a scalars.json it cannot use ---
    *[
        (
            f'plot_curves_{name}',
            'analysis/plot_curves.py',
            lambda f, w, name=name: [f[f'scalars_{name}.json'], '--out', str(w / 'p.png')],
            match,
        )
        for name, match in [
            ('empty', 'no line has a numeric "step"'),
            ('list', 'line 1 is a JSON list, not an object'),
            ('no_step', 'no line has a numeric "step"'),
            ('text_values', 'has a numeric value in'),
            ('not_json', 'line 1 is not JSON'),
            ('binary', 'is not a scalars.json: not UTF-8 text'),
        ]
    ],
    # --- tools/export.py: flags checked before the config is read ---
    (
        'export_opset_out_of_range',
        'export.py',
        lambda f, w: [QS, '--out', str(w / 'm.onnx'), '--opset', '99'],
        'opset must be in 7..20 for the torchscript ONNX exporter, got 99',
    ),
    (
        'export_opset_below_dynamo',
        'export.py',
        lambda f, w: [QS, '--out', str(w / 'm.onnx'), '--onnx-exporter', 'dynamo', '--opset', '13'],
        'opset must be in 18..23 for the dynamo ONNX exporter, got 13',
    ),
    (
        'export_atol_negative',
        'export.py',
        lambda f, w: [QS, '--out', str(w / 'm.onnx'), '--atol', '-1'],
        'atol must be a finite number >= 0, got -1.0',
    ),
    (
        'export_rtol_nan',
        'export.py',
        lambda f, w: [QS, '--out', str(w / 'm.onnx'), '--rtol', 'nan'],
        'rtol must be a finite number, got nan',
    ),
    (
        'export_batch_size_zero',
        'export.py',
        lambda f, w: [QS, '--out', str(w / 'm.onnx'), '--batch-sizes', '2', '0'],
        'batch sizes must be >= 1, got (2, 0)',
    ),
    (
        'export_shape_zero',
        'export.py',
        lambda f, w: [QS, '--out', str(w / 'm.onnx'), '--shape', '0'],
        '--shape',
    ),
    (
        'export_out_is_dir',
        'export.py',
        lambda f, w: [QS, '--out', f['dir']],
        'is a directory',
    ),
    (
        'export_pt2_name',
        'export.py',
        lambda f, w: [QS, '--out', str(w / 'm.onnx'), '--format', 'export'],
        'must end in .pt2',
    ),
    (
        'convert_dst_is_dir',
        'convert.py',
        lambda f, w: [f['qs.pth'], f['dir'], '--from', 'timm', '--arch', 'seresnet50'],
        'is a directory',
    ),
]
MALICIOUS = [
    (tool, name)
    for name in ('os_system', 'eval', 'subprocess')
    for tool in ('train.py --resume', 'test.py', 'train.py load_from')
]


@pytest.mark.parametrize('case, tool, argv, match', CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2(
    case, tool, argv, match, files, tmp_path, capsys, monkeypatch
):
    code, err = run_tool(tool, argv(files, tmp_path / 'work'), capsys, monkeypatch)
    assert_one_line_error(code, err, match)


def test_corrupt_image_error_names_the_file(files, tmp_path, capsys, monkeypatch):
    code, err = run_tool('train.py', [files['folder.py'], *W(tmp_path)], capsys, monkeypatch)
    assert_one_line_error(code, err, 'cannot decode image')
    assert '/folder/b/1.png' in err or '/folder/b/2.png' in err


@pytest.mark.parametrize('tool, payload', MALICIOUS, ids=[f'{t}-{p}' for t, p in MALICIOUS])
def test_malicious_checkpoint_is_refused_and_nothing_runs(
    tool, payload, files, tmp_path, capsys, monkeypatch
):
    evil = files[f'evil_{payload}.pth']
    work = tmp_path / 'work'
    argv = {
        'train.py --resume': [QS, *W(work), '--resume', evil],
        'test.py': [QS, evil, *W(work)],
        'train.py load_from': [QS, *W(work), '--cfg-options', f'load_from={evil}'],
    }[tool]
    code, err = run_tool(tool.split()[0], argv, capsys, monkeypatch)
    assert_one_line_error(code, err, f'refused to load {evil}')
    assert 'nothing from it was executed' in err
    assert not any(os.path.exists(m) for m in files['markers'])
    assert not work.exists()  # refused before the Runner made its work dir


def test_work_dir_in_use_is_refused_naming_the_running_pid(tmp_path, capsys, monkeypatch):
    from se_plugin.runtime.workdir_lock import lock_work_dir

    with lock_work_dir(str(tmp_path), 'the first run'):
        code, err = run_tool('train.py', [QS, *W(tmp_path), *SHRINK], capsys, monkeypatch)
    assert_one_line_error(code, err, f'in use by another run (pid {os.getpid()}')


def test_nonfinite_loss_stops_training_with_exit_2(tmp_path, capsys, monkeypatch):
    argv = [QS, *W(tmp_path), *SHRINK, 'optim_wrapper.optimizer.lr=1e30']
    code, err = run_tool('train.py', argv, capsys, monkeypatch)
    assert_one_line_error(code, err, 'training stopped: loss = nan')
    assert not (tmp_path / 'epoch_1.pth').exists()


def test_exception_inside_training_keeps_its_traceback(files, tmp_path, capsys, monkeypatch):
    """A ValueError once training runs is a bug: it propagates (traceback), not one line."""
    from mmengine.hooks import Hook

    from se_plugin.registry import HOOKS

    @HOOKS.register_module(name='_RaiseInTraining', force=True)
    class _RaiseInTraining(Hook):
        def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
            raise ValueError('a bug deep inside training')

    config = tmp_path / 'raise.py'
    config.write_text(f"_base_ = [{QS!r}]\ncustom_hooks = [dict(type='_RaiseInTraining')]\n")
    monkeypatch.setattr(sys, 'argv', ['train.py', str(config), *W(tmp_path / 'w'), *SHRINK])
    monkeypatch.chdir(REPO)
    _forget_mmengine_instances()
    try:
        with pytest.raises(ValueError, match='a bug deep inside training'):
            runpy.run_path(str(REPO / 'tools' / 'train.py'), run_name='__main__')
    finally:
        _forget_mmengine_instances()


# --- every tool on the shared CLI layer (se_plugin.cli) ----------------------------------

TOOLS = [
    'train.py',
    'test.py',
    'benchmark.py',
    'convert.py',
    'export.py',
    'gpu_check.py',
    'ablate.py',
    'analysis/complexity.py',
    'analysis/excitation.py',
    'analysis/plot_curves.py',
    'visualization/vis_cam.py',
    'misc/mnist5k_digits.py',
]


@pytest.mark.parametrize('tool', TOOLS)
def test_every_tool_bad_argument_is_one_line_exit_2(tool, capsys, monkeypatch):
    code, err = run_tool(tool, ['--no-such-option'], capsys, monkeypatch)
    assert_one_line_error(code, err, '--help)')


@pytest.mark.parametrize('tool', TOOLS)
def test_every_tool_help_exits_0(tool, capsys, monkeypatch):
    monkeypatch.setattr(sys, 'argv', [tool, '--help'])
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        runpy.run_path(str(REPO / 'tools' / tool), run_name='__main__')
    out = capsys.readouterr().out
    assert exc.value.code == 0
    assert out.startswith('usage: ') and '--help' in out


# --- real subprocesses -------------------------------------------------------------------


def _subprocess(args, tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=str(REPO), PYTHON=sys.executable)
    runner = ['bash'] if args[0].endswith('.sh') else [sys.executable]
    return subprocess.run(
        [*runner, *args], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300
    )


@pytest.mark.parametrize(
    'name, args, match',
    [
        ('syntax_error', lambda f, w: ['tools/train.py', f['syntax.py']], 'SyntaxError'),
        (
            'unknown_key',
            lambda f, w: ['tools/train.py', QS, '--cfg-options', 'modle.x=1'],
            "no 'modle'",
        ),
        (
            'bad_launcher',
            lambda f, w: ['tools/train.py', QS, '--launcher', 'k8s'],
            'invalid choice',
        ),
        (
            'resume_truncated',
            lambda f, w: ['tools/train.py', QS, *W(w), '--resume', f['truncated.pth']],
            'corrupt',
        ),
        (
            'test_malicious',
            lambda f, w: ['tools/test.py', QS, f['evil_os_system.pth'], *W(w)],
            'refused',
        ),
        ('dist_train_zero', lambda f, w: ['tools/dist_train.sh', QS, '0'], 'NUM_PROCS must be'),
        ('dist_train_no_procs', lambda f, w: ['tools/dist_train.sh', QS], 'usage:'),
        # two DataLoader workers: the error comes back from a worker process
        (
            'corrupt_image_workers',
            lambda f, w: ['tools/train.py', f['folder_workers.py'], *W(w)],
            'cannot decode image',
        ),
    ],
)
def test_subprocess_bad_input(name, args, match, files, tmp_path):
    argv = [
        a if a.startswith(('/', '-')) or '=' in a else str(REPO / a)
        for a in args(files, tmp_path / 'w')
    ]
    proc = _subprocess(argv, tmp_path)
    assert_one_line_error(proc.returncode, proc.stderr, match)
    assert not any(os.path.exists(m) for m in files['markers'])


# --- an output that cannot be written: every tool that writes ---------------------------

# runs each tool in one process (one import), as run_tool does; results as JSON
RO_DRIVER = r"""
import contextlib, io, json, os, runpy, sys
cases, out = json.loads(sys.argv[1]), sys.argv[2]
results, home = {}, os.getcwd()
for name, tool, argv, cwd in cases:
    os.chdir(cwd or home)
    sys.argv = [tool, *argv]
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            runpy.run_path(tool, run_name='__main__')
            code = 0
        except SystemExit as exc:
            code = exc.code
        except BaseException as exc:
            code, err = 'raised', io.StringIO(repr(exc))
    results[name] = [code, err.getvalue()]
with open(out, 'w') as f:
    json.dump(results, f)
"""


def READ_ONLY_CASES(f, ro):  # noqa: N802  (tool, argv[, cwd]) per writing tool, outputs in ro
    return {
        'train': ('train.py', [QS, '--work-dir', f'{ro}/w']),
        'test': ('test.py', [QS, f['qs.pth'], '--work-dir', f'{ro}/w']),
        'ablate': ('ablate.py', [QS, '--work-dir', f'{ro}/sweep']),
        'convert': (
            'convert.py', [f['qs.pth'], f'{ro}/c.pth', '--from', 'timm', '--arch', 'seresnet50']
        ),
        'export': ('export.py', [QS, '--out', f'{ro}/m.onnx']),
        'benchmark': ('benchmark.py', ['torchvision.resnet18', '--out', f'{ro}/b.json']),
        'complexity': ('analysis/complexity.py', [QS, '--out', f'{ro}/c.md']),
        'complexity_metafile': ('analysis/complexity.py', ['--metafile'], ro),  # run in ro
        'excitation': ('analysis/excitation.py', [QS, f['qs.pth'], '--out-dir', f'{ro}/e']),
        'plot_curves': ('analysis/plot_curves.py', [f['dir'], '--out', f'{ro}/p.png']),
        'vis_cam': (
            'visualization/vis_cam.py', [f['dir'], QS, f['qs.pth'], '--save-path', f'{ro}/v.png']
        ),
    }  # fmt: skip


def _read_only_prefix(ro):
    """The command prefix that runs a process with ``ro`` not writable, and the reason
    the tools should give; None where neither way is available."""
    if os.geteuid() != 0:
        ro.chmod(0o555)  # modes stop everyone but root
        return [], 'permission denied'
    # root: a read-only bind mount in a private mount namespace (nothing leaks out)
    mount = f'mount --bind -o ro "{ro}" "{ro}"'
    probe = subprocess.run(
        ['unshare', '-m', 'sh', '-c', f'{mount} && ! touch "{ro}/probe"'], capture_output=True
    )
    if probe.returncode != 0:
        return None, None
    return ['unshare', '-m', 'sh', '-c', f'{mount} && exec "$0" "$@"'], 'read-only file system'


@pytest.fixture(scope='module')
def read_only_results(files, tmp_path_factory):
    ro = tmp_path_factory.mktemp('read_only')
    (ro / 'existing.onnx').write_bytes(b'an earlier export')
    prefix, reason = _read_only_prefix(ro)
    if prefix is None:
        pytest.skip('running as root without unshare: no read-only directory to test with')
    cases = [
        (name, str(REPO / 'tools' / case[0]), case[1], str(case[2]) if case[2:] else None)
        for name, case in READ_ONLY_CASES(files, ro).items()
    ]
    out = tmp_path_factory.mktemp('read_only_out') / 'results.json'
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=str(REPO))
    cmd = [*prefix, sys.executable, '-c', RO_DRIVER, json.dumps(cases), str(out)]
    try:
        subprocess.run(cmd, env=env, cwd=REPO, timeout=600, check=True)
    finally:
        ro.chmod(0o755)
    return json.loads(out.read_text()), reason, ro


@pytest.mark.parametrize('tool', list(READ_ONLY_CASES({'qs.pth': '', 'dir': ''}, '')))
def test_unwritable_output_is_one_line_in_every_tool(tool, read_only_results):
    """Real: a read-only bind mount as root (EROFS), chmod 555 otherwise (EACCES)."""
    results, reason, ro = read_only_results
    code, err = results[tool]
    assert_one_line_error(code, err, f'cannot write in {ro} ({reason})')
    assert sorted(p.name for p in ro.iterdir()) == ['existing.onnx']  # nothing written


@pytest.mark.parametrize(
    'error',
    [(28, 'No space left on device'), (30, 'Read-only file system'), (13, 'Permission denied')],
)
def test_a_write_refused_during_training_is_one_line(error, tmp_path, capsys, monkeypatch):
    """The checkpoint write hours into training: the file system's answer, one line."""
    from se_plugin.runtime import atomic

    def refused(data, path):
        raise OSError(error[0], error[1], str(path))

    monkeypatch.setattr(atomic, 'atomic_write_bytes', refused)
    code, err = run_tool('train.py', [QS, *W(tmp_path), *SHRINK], capsys, monkeypatch)
    assert_one_line_error(code, err, f'{error[1]}: {tmp_path}/')
    assert '[Errno' not in err
