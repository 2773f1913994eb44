"""Evaluate a checkpoint: ``python tools/test.py CONFIG CHECKPOINT [options]``."""

from se_plugin.cli.entry import run_cli
from se_plugin.cli.parser import add_run_options, parse_tool_args, tool_parser


def parse_args():
    parser = tool_parser('Evaluate a checkpoint with mmengine.', 'test_dataloader.batch_size=64')
    parser.add_argument('checkpoint', help='checkpoint file (must fit the model exactly)')
    add_run_options(parser)
    return parse_tool_args(parser)


def main():
    args = parse_args()
    from se_plugin.cli.config import prepare_test_config  # after parsing: --help stays light
    from se_plugin.cli.run import test

    cfg = prepare_test_config(
        args.config,
        args.checkpoint,
        work_dir=args.work_dir,
        cfg_options=args.cfg_options,
        launcher=args.launcher,
    )
    test(cfg, partial_load=args.partial_load, verbose=args.verbose)


if __name__ == '__main__':
    run_cli(main)
