"""What ``tools/train.py`` and ``tools/test.py`` do, as functions.

The tools only parse arguments and call these: load and merge the config,
check it up front (config keys, data roots, checkpoint, device), apply the
environment settings, then hand it to mmengine's ``Runner``. Errors a user can
cause end the tool with one line on stderr and exit code 2
(``SE_PLUGIN_DEBUG=1`` shows the traceback).
"""

from __future__ import annotations

import argparse
import os
import os.path as osp
import sys
from collections.abc import Callable, Mapping
from typing import Any, Optional

import torch
from mmengine.config import Config, DictAction

from .checkpoint import (
    CheckpointError,
    check_resumable,
    find_resumable_checkpoint,
    load_checkpoint_file,
)
from .config_checks import (
    KNOWN_KEYS,
    check_copied_overrides,
    check_finite_values,
    check_optimizer_type,
    check_randomness,
    check_section_keys,
    check_top_level_keys,
    check_train_cfg,
    did_you_mean,
)
from .data_checks import check_data_roots, check_folder_classes
from .distributed import configure_distributed, init_distributed
from .errors import ArgumentError, ConfigError, is_user_error, mark_preparing
from .install import install
from .runner import CheckedRunner
from .workdir_lock import lock_work_dir

EXIT_USER_ERROR = 2
LAUNCHERS = ('none', 'pytorch', 'slurm', 'mpi')
_BRACKETS = {'(': ')', '[': ']', '{': '}'}


def _unbalanced(text: str) -> Optional[str]:
    """What is wrong with the brackets of a ``--cfg-options`` value, or None."""
    stack, quote = [], None
    for ch in text:
        if quote:
            quote = None if ch == quote else quote
        elif ch in '\'"':
            quote = ch
        elif ch in _BRACKETS:
            stack.append(_BRACKETS[ch])
        elif ch in _BRACKETS.values() and (not stack or stack.pop() != ch):
            return f'unexpected {ch!r}'
    return f'missing {stack[-1]!r}' if stack else None


def _int_at_least(minimum: int):
    """An argparse ``type``: an int >= ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f'invalid int value: {text!r}') from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f'must be an int >= {minimum}, got {value}')
        return value

    return parse


positive_int = _int_at_least(1)
non_negative_int = _int_at_least(0)


class ToolArgumentParser(argparse.ArgumentParser):
    """``ArgumentParser`` whose errors are one line on stderr (exit 2), like the
    tools' other user errors, instead of the usage block plus the error."""

    def error(self, message: str):
        self.exit(EXIT_USER_ERROR, f'error: {message} (see {self.prog} --help)\n')


class CfgOptionsAction(DictAction):
    """mmengine's ``DictAction`` (``--cfg-options KEY=VALUE ...``) that reports an
    entry without ``=`` or with an empty key as an argument error."""

    def __call__(self, parser, namespace, values, option_string=None):
        for kv in values or ():
            key, sep, _ = kv.partition('=')
            if not sep or not key or any(not part for part in key.split('.')):
                raise argparse.ArgumentError(
                    self,
                    f'expected KEY=VALUE with a dotted KEY such as model.backbone.depth=50, '
                    f'got {kv!r}',
                )
            problem = _unbalanced(kv.partition('=')[2])
            if problem:
                raise argparse.ArgumentError(self, f'{kv!r}: unbalanced brackets ({problem})')
        try:
            super().__call__(parser, namespace, values, option_string)
        except Exception as err:  # mmengine's value parser asserts on odd input
            raise argparse.ArgumentError(self, f'cannot parse {values!r}: {err}') from None


def tool_parser(description: str, cfg_options_example: str) -> ToolArgumentParser:
    """The arguments every tool shares: the config, ``--work-dir``,
    ``--cfg-options``, ``--launcher`` and torch.distributed's ``--local-rank``."""
    parser = ToolArgumentParser(description=description)
    parser.add_argument('config', help='config file path')
    parser.add_argument('--work-dir', help='where logs and checkpoints go')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=CfgOptionsAction,
        help=f'override config entries, e.g. {cfg_options_example}',
    )
    parser.add_argument('--launcher', choices=LAUNCHERS, default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    return parser


def parse_tool_args(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """Parse, and export ``LOCAL_RANK`` for launchers that pass ``--local-rank``."""
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def load_config(path: str, cfg_options: Optional[Mapping[str, Any]] = None) -> Config:
    """Read a config file and merge ``--cfg-options`` into it.

    Every ``--cfg-options`` key must extend an existing part of the config: a
    new leaf (``model.backbone.drop_path_rate``) is fine, a misspelt branch
    (``modle.backbone.depth``) is an error naming the first missing part.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'config file not found: {path}')
    try:
        cfg = Config.fromfile(path)
    except Exception as err:  # a config is user code: whatever it raises is the user's error
        raise ConfigError(f'cannot read config {path}: {type(err).__name__}: {err}') from None
    new_top = []
    if cfg_options:
        for key in cfg_options:
            check_option_key(cfg, key)
        check_copied_overrides(cfg, cfg_options)
        new_top = [key for key in cfg_options if key.split('.')[0] not in cfg]
        cfg.merge_from_dict(dict(cfg_options))
    check_top_level_keys(cfg, new_top)
    check_section_keys(cfg)
    check_finite_values(cfg)
    return cfg


def check_option_key(cfg: Config, key: str) -> None:
    node: Any = cfg._cfg_dict
    parts = key.split('.')
    for depth, part in enumerate(parts[:-1]):
        where = '.'.join(parts[: depth + 1])
        if isinstance(node, (list, tuple)) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, Mapping) and part in node:
            node = node[part]
        else:
            known = sorted(node) if isinstance(node, Mapping) else []
            hint = did_you_mean(part, KNOWN_KEYS if depth == 0 else known)
            raise ConfigError(
                f'--cfg-options {key}: the config has no {where!r}{hint}'
                + (f' (known keys there: {", ".join(known)})' if known else '')
            )
        if not isinstance(node, (Mapping, list, tuple)):
            raise ConfigError(
                f'--cfg-options {key}: {where!r} is a {type(node).__name__}, not a dict or list'
            )


def _set_dataloader_defaults(cfg: Config) -> None:
    for field in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(field)
        if loader is None:
            continue
        if loader.get('num_workers', 0) > 0:
            loader.setdefault('persistent_workers', True)
        loader.setdefault('pin_memory', torch.cuda.is_available())


def _blocking_file(path: str) -> Optional[str]:
    """The nearest existing ancestor of ``path`` when it is a file, else None."""
    parent = osp.dirname(osp.abspath(osp.expanduser(path)))
    while parent and not osp.exists(parent):
        parent = osp.dirname(parent)
    return parent if parent and not osp.isdir(parent) else None


def check_output_dir(path: str, what: str = 'output dir') -> str:
    """Fail before any work when ``path`` cannot be a directory (it, or a part
    of it, is a file).

    Args:
        path (str): The directory to write into.
        what (str): Its role, for the message (e.g. ``--out-dir``). Default: 'output dir'.

    Returns:
        str: ``path``.
    """
    if osp.exists(path) and not osp.isdir(path):
        raise ConfigError(f'{what} {path} exists and is not a directory')
    blocking = _blocking_file(path)
    if blocking:
        raise ConfigError(f'{what} {path}: {blocking} is a file, not a directory')
    return path


def check_output_file(path: str, what: str = 'output') -> str:
    """Fail before any work when ``path`` cannot become a file: it is a
    directory, or a part of its directory is a file.

    Args:
        path (str): The file to write.
        what (str): Its role, for the message (e.g. ``--out``). Default: 'output'.

    Returns:
        str: ``path``.
    """
    if osp.isdir(path):
        raise ConfigError(f'{what} {path} is a directory; give a file name')
    blocking = _blocking_file(path)
    if blocking:
        raise ConfigError(f'{what} {path}: {blocking} is a file, not a directory')
    return path


def _default_work_dir(config_path: str) -> str:
    return osp.join('./work_dirs', osp.splitext(osp.basename(config_path))[0])


def prepare_train_config(
    config: str,
    work_dir: Optional[str] = None,
    resume: Optional[str] = None,
    amp: bool = False,
    auto_scale_lr: bool = False,
    no_validate: bool = False,
    cfg_options: Optional[Mapping[str, Any]] = None,
    launcher: str = 'none',
    max_epochs: Optional[int] = None,
) -> Config:
    """The config ``tools/train.py`` runs, after all checks.

    ``max_epochs`` (``--max-epochs``, a smoke run) shortens the whole schedule
    with ``ablate.py``'s helper
    (:func:`~se_plugin.analysis.ablation.shorten_schedule` with
    ``keep_shape=True``: the lr schedule is scaled to the new length, so even
    one epoch warms up and anneals).

    ``resume='auto'`` continues from the last checkpoint of the work dir (or
    starts afresh if there is none); when its ``last_checkpoint`` pointer names
    a missing or corrupt file, from the newest loadable checkpoint there, with
    a warning (:func:`~se_plugin.runtime.checkpoint.find_resumable_checkpoint`).
    Any other value is a checkpoint path, checked (loaded with the allow-list)
    before anything runs. The config is made crash-safe and resumable:
    mmengine's ``CheckpointHook`` becomes
    :class:`~se_plugin.runtime.checkpoint_hook.AtomicCheckpointHook` and an
    epoch-based ``train_cfg`` uses
    :class:`~se_plugin.runtime.loops.ResumableEpochBasedTrainLoop`.
    """
    cfg = load_config(config, cfg_options)
    if max_epochs is not None:
        from se_plugin.analysis.ablation import shorten_schedule  # imports this module

        cfg.merge_from_dict(shorten_schedule(cfg, max_epochs, keep_shape=True))
    cfg.launcher = _check_launcher(launcher)
    configure_distributed(cfg)
    cfg.work_dir = _check_work_dir(work_dir or cfg.get('work_dir') or _default_work_dir(config))
    check_train_cfg(cfg)
    check_randomness(cfg)
    check_optimizer_type(cfg)
    if no_validate:
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    if amp:
        _check_amp_device()
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if resume == 'auto':
        _resume_auto(cfg)
    elif resume is not None:
        check_checkpoint_path(resume)
        check_resumable(resume)
        cfg.resume, cfg.load_from = True, resume
    elif cfg.get('load_from'):
        check_checkpoint_file(cfg.load_from)
    _use_crash_safe_training(cfg)
    if auto_scale_lr:
        if not isinstance(cfg.get('auto_scale_lr'), Mapping):
            raise ConfigError(f'--auto-scale-lr: {config} has no auto_scale_lr.base_batch_size')
        cfg.auto_scale_lr.enable = True
    _set_dataloader_defaults(cfg)
    phases = ['train_dataloader'] + ([] if cfg.get('val_cfg') is None else ['val_dataloader'])
    check_data_roots(cfg, phases)
    check_folder_classes(cfg, [*phases, 'test_dataloader'])
    return cfg


def _resume_auto(cfg: Config) -> None:
    """``--resume`` without a path: the work dir's last good checkpoint; on a
    fresh work dir the config's ``load_from`` (resumed if it is a training
    checkpoint, else loaded as weights), never dropped."""
    found = find_resumable_checkpoint(cfg.work_dir) if osp.isdir(cfg.work_dir) else None
    if found is not None:
        cfg.resume, cfg.load_from = True, found
        return
    load_from = cfg.get('load_from')
    if not load_from:
        cfg.resume = False
        return
    check_checkpoint_file(load_from)
    try:
        check_resumable(load_from)
    except CheckpointError:
        cfg.resume = False  # weights only: loaded, training starts at epoch 0
    else:
        cfg.resume = True
    print(
        f'--resume: nothing to resume in {cfg.work_dir}; '
        f'{"resuming from" if cfg.resume else "loading the weights of"} load_from={load_from}'
    )


def prepare_test_config(
    config: str,
    checkpoint: str,
    work_dir: Optional[str] = None,
    cfg_options: Optional[Mapping[str, Any]] = None,
    launcher: str = 'none',
) -> Config:
    """The config ``tools/test.py`` runs: ``checkpoint`` evaluated on the test set."""
    cfg = load_config(config, cfg_options)
    cfg.launcher = _check_launcher(launcher)
    configure_distributed(cfg)
    cfg.work_dir = _check_work_dir(work_dir or cfg.get('work_dir') or _default_work_dir(config))
    check_checkpoint_file(checkpoint)
    cfg.load_from = checkpoint
    cfg.resume = False
    for key in ('test_dataloader', 'test_evaluator'):
        if cfg.get(key) is None:
            raise ConfigError(f'{config} has no {key}: nothing to test on')
    _set_dataloader_defaults(cfg)
    check_data_roots(cfg, ['test_dataloader'])
    return cfg


def _check_work_dir(work_dir: Any) -> str:
    if not isinstance(work_dir, str) or not work_dir:
        raise ConfigError(f'work_dir must be a path, got {work_dir!r}')
    return check_output_dir(work_dir, 'work_dir')


def _check_launcher(launcher: str) -> str:
    if launcher not in LAUNCHERS:
        raise ArgumentError(f'--launcher must be one of {", ".join(LAUNCHERS)}; got {launcher!r}')
    return launcher


def _check_amp_device() -> None:
    if not torch.cuda.is_available():
        raise ArgumentError(
            '--amp needs a CUDA device (mmengine AmpOptimWrapper); none is available here'
        )


def check_checkpoint_path(path: str) -> None:
    if not isinstance(path, str) or not osp.isfile(osp.expanduser(path)):
        raise FileNotFoundError(f'checkpoint not found: {path}')


def check_checkpoint_file(path: str) -> None:
    """Fail early on a missing, corrupt or unsafe local checkpoint (URLs are left
    to mmengine's loaders)."""
    if isinstance(path, str) and '://' in path:
        return
    check_checkpoint_path(path)
    load_checkpoint_file(osp.expanduser(path), map_location='cpu')


_MMENGINE_CHECKPOINT_HOOKS = ('CheckpointHook', 'mmengine.CheckpointHook')
_RESUMABLE_LOOP = 'se_plugin.ResumableEpochBasedTrainLoop'


def _use_crash_safe_training(cfg: Config) -> None:
    """mmengine's CheckpointHook -> AtomicCheckpointHook; epoch-based train_cfg
    without a loop type -> ResumableEpochBasedTrainLoop."""
    hooks = cfg.get('default_hooks')
    checkpoint = hooks.get('checkpoint') if isinstance(hooks, Mapping) else None
    if isinstance(checkpoint, Mapping) and checkpoint.get('type') in _MMENGINE_CHECKPOINT_HOOKS:
        checkpoint['type'] = 'se_plugin.AtomicCheckpointHook'
    train_cfg = cfg.get('train_cfg')
    if isinstance(train_cfg, Mapping) and 'type' not in train_cfg and train_cfg.get('by_epoch'):
        loop = {k: v for k, v in train_cfg.items() if k != 'by_epoch'}
        cfg.train_cfg = dict(type=_RESUMABLE_LOOP, **loop)


def apply_env(cfg: Config) -> None:
    """se_plugin's extension of ``env_cfg``: ``torch_num_threads``."""
    threads = (cfg.get('env_cfg') or {}).get('torch_num_threads')
    if threads is not None:
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ConfigError(f'env_cfg.torch_num_threads must be an int >= 1, got {threads!r}')
        torch.set_num_threads(threads)


def build_runner(cfg: Config, load_mode: str = 'checked', verbose: bool = True):
    """The Runner for ``cfg``: :class:`~se_plugin.runtime.runner.CheckedRunner`
    (or the config's ``runner_type``).

    Args:
        cfg (Config): A prepared config.
        load_mode (str): How checkpoints load: ``'strict'``, ``'checked'`` or
            ``'partial'`` (:mod:`se_plugin.runtime.weights`). Default: 'checked'.
        verbose (bool): Whether the console shows the config dump, environment
            and hook table (the log file always has them). Default: True.
    """
    from mmengine.registry import RUNNERS

    apply_env(cfg)
    init_distributed(cfg)
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    runner_cls = type('CheckedRunner', (CheckedRunner,), dict(load_mode=load_mode, verbose=verbose))
    return runner_cls.from_cfg(cfg)


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """``--partial-load`` and ``--verbose``, shared by ``train.py`` and ``test.py``."""
    parser.add_argument(
        '--partial-load',
        action='store_true',
        help='load only the checkpoint tensors that fit the model (default: test.py needs an '
        'exact fit; load_from / init_cfg must fill at least half of the model)',
    )
    parser.add_argument(
        '--verbose',
        action='store_true',
        help='also print the config dump, environment and hook table (always in the log file)',
    )


def train(cfg: Config, partial_load: bool = False, verbose: bool = False) -> None:
    """Train ``cfg`` (prepared) with the work dir locked; print the result last."""
    with lock_work_dir(cfg.work_dir, 'tools/train.py'):
        runner = build_runner(cfg, 'partial' if partial_load else 'checked', verbose)
        runner.train()
    scalars = runner.message_hub.log_scalars
    metrics = {
        k[4:]: v.current()
        for k, v in scalars.items()
        if k.startswith('val/') and k not in ('val/time', 'val/data_time')
    }
    result = f'; last validation: {format_metrics(metrics)}' if metrics else ''
    print(f'train: {runner.epoch} epochs, {runner.iter} iterations in {cfg.work_dir}{result}')


def test(cfg: Config, partial_load: bool = False, verbose: bool = False) -> None:
    """Evaluate ``cfg.load_from`` (prepared) with the work dir locked; print the metrics."""
    with lock_work_dir(cfg.work_dir, 'tools/test.py'):
        runner = build_runner(cfg, 'partial' if partial_load else 'strict', verbose)
        metrics = runner.test()
    print(f'test: {format_metrics(metrics)}')


def format_metrics(metrics: Mapping[str, Any]) -> str:
    return '  '.join(
        f'{k}: {v:.2f}' if isinstance(v, float) else f'{k}: {v}' for k, v in metrics.items()
    )


def _message(err: BaseException) -> str:
    text = str(err.args[0] if isinstance(err, KeyError) and err.args else err)
    if 'Original Traceback' in text:
        # re-raised from a DataLoader worker: keep the error, not the traceback
        last = [line for line in text.splitlines() if line.strip()][-1].strip()
        name, sep, rest = last.partition(': ')
        text = rest if sep and ' ' not in name else last
    return ' '.join(text.split()) or type(err).__name__


def run_cli(main: Callable[[], Optional[int]]) -> None:
    """Run a tool's ``main``: user errors become one line on stderr and exit 2.

    Which errors are the user's: :func:`~se_plugin.runtime.errors.is_user_error`
    (se_plugin's own error classes always; plain ``ValueError``/``TypeError``/...
    only while the run is prepared; a traceback once training runs). The tools
    always load checkpoints through se_plugin's loader: :func:`install` is called
    here too, so ``SE_PLUGIN_NO_INSTALL=1`` does not change what they do.
    """
    install()
    mark_preparing()
    try:
        code = main()
    except KeyboardInterrupt:
        print('interrupted', file=sys.stderr)
        sys.exit(130)
    except Exception as err:
        if not is_user_error(err) or os.environ.get('SE_PLUGIN_DEBUG'):
            raise
        print(
            f'error: {_message(err)} [{type(err).__name__}; SE_PLUGIN_DEBUG=1 shows the traceback]',
            file=sys.stderr,
        )
        sys.exit(EXIT_USER_ERROR)
    sys.exit(code or 0)


__all__ = [
    'add_run_options',
    'non_negative_int',
    'positive_int',
    'test',
    'train',
    'CfgOptionsAction',
    'ConfigError',
    'EXIT_USER_ERROR',
    'ToolArgumentParser',
    'apply_env',
    'build_runner',
    'check_checkpoint_file',
    'check_data_roots',
    'format_metrics',
    'check_option_key',
    'check_output_dir',
    'check_output_file',
    'load_config',
    'parse_tool_args',
    'tool_parser',
    'prepare_test_config',
    'prepare_train_config',
    'run_cli',
]
