"""Evaluate a checkpoint: ``python tools/test.py [CONFIG] CHECKPOINT [options]``.

Without CONFIG the config is the one the checkpoint carries (``meta['cfg']``:
converted checkpoints and training checkpoints have it).
"""

from se_plugin.cli.entry import run_cli
from se_plugin.cli.parser import add_run_options, parse_tool_args, tool_parser

OUT_ITEMS = ('pred', 'metrics')


def parse_args():
    parser = tool_parser('Evaluate a checkpoint with mmengine.', 'test_dataloader.batch_size=64')
    parser.usage = '%(prog)s [-h] [CONFIG] CHECKPOINT [options]'
    parser.add_argument(
        'checkpoint',
        nargs='?',
        help='checkpoint file (must fit the model exactly); given alone, the config is the '
        "checkpoint's own (meta['cfg'])",
    )
    parser.add_argument(
        '--out',
        metavar='FILE',
        help='write the predictions (.pkl, as mmpretrain; or .json) or, with --out-item '
        'metrics, the metrics',
    )
    parser.add_argument(
        '--out-item', choices=OUT_ITEMS, help='what --out holds (default: pred, every sample)'
    )
    parser.add_argument(
        '--tta',
        action='store_true',
        help="test-time augmentation: the config's tta_model / tta_pipeline, else the mean "
        'score of each image and its horizontal flip',
    )
    add_run_options(parser)
    args = parse_tool_args(parser)
    if args.checkpoint is None and args.config.endswith('.py'):
        parser.error(
            'the following arguments are required: checkpoint (a config alone has no '
            'weights; a checkpoint alone brings its config)'
        )
    if args.out_item is not None and args.out is None:
        parser.error('--out-item needs --out')
    return args


def main():
    args = parse_args()
    # after parsing: --help stays light
    from se_plugin.cli.config import prepare_test_config
    from se_plugin.cli.paths import check_output_file
    from se_plugin.cli.run import test
    from se_plugin.evaluation import add_prediction_dump, check_dump_file, use_tta, write_dump

    config, checkpoint = args.config, args.checkpoint
    if args.out is not None:
        check_output_file(check_dump_file(args.out), '--out')
    if checkpoint is None:
        from se_plugin.apis import checkpoint_config

        config, checkpoint = checkpoint_config(config), config
    cfg = prepare_test_config(
        config,
        checkpoint,
        work_dir=args.work_dir,
        cfg_options=args.cfg_options,
        launcher=args.launcher,
    )
    if args.tta:
        use_tta(cfg)
    if args.out is not None and args.out_item != 'metrics':
        add_prediction_dump(cfg, args.out)
    metrics = test(cfg, partial_load=args.partial_load, verbose=args.verbose)
    if args.out_item == 'metrics':
        write_dump(metrics, args.out)


if __name__ == '__main__':
    run_cli(main)
