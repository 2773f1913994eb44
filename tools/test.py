"""Evaluate a checkpoint: ``python tools/test.py CONFIG CHECKPOINT [options]``."""

import os

import se_plugin  # noqa: F401  (registers se_plugin modules, safe checkpoint loading)
from se_plugin.runtime.cli import (
    CfgOptionsAction,
    ToolArgumentParser,
    build_runner,
    format_metrics,
    prepare_test_config,
    run_cli,
)


def parse_args():
    parser = ToolArgumentParser(description='Evaluate a checkpoint with mmengine.')
    parser.add_argument('config', help='config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='where the test logs go')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=CfgOptionsAction,
        help='override config entries, e.g. test_dataloader.batch_size=64',
    )
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def main():
    args = parse_args()
    cfg = prepare_test_config(
        args.config,
        args.checkpoint,
        work_dir=args.work_dir,
        cfg_options=args.cfg_options,
        launcher=args.launcher,
    )
    metrics = build_runner(cfg).test()
    print(f'test: {format_metrics(metrics)}')


if __name__ == '__main__':
    run_cli(main)
