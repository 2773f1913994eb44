"""Train a model from a config: ``python tools/train.py CONFIG [options]``."""

from se_plugin.cli.entry import run_cli
from se_plugin.cli.parser import add_run_options, parse_tool_args, positive_int, tool_parser


def parse_args():
    parser = tool_parser('Train a model with mmengine.', 'model.backbone.attn_cfg.ratio=8')
    parser.add_argument(
        '--resume',
        nargs='?',
        const='auto',
        help="resume from a checkpoint path, or 'auto' (the default when given without a "
        "value): the last good checkpoint of the work dir, else the config's load_from",
    )
    parser.add_argument('--amp', action='store_true', help='automatic mixed precision (CUDA)')
    parser.add_argument('--no-validate', action='store_true', help='skip validation')
    parser.add_argument(
        '--auto-scale-lr', action='store_true', help='scale lr by the real batch size'
    )
    parser.add_argument(
        '--max-epochs',
        type=positive_int,
        metavar='N',
        help="train N epochs, the parameter schedule scaled from the config's epochs to N "
        '(warm-up, milestones and cosine keep their place: a short run still warms up and '
        'anneals, a longer one stretches the schedule)',
    )
    add_run_options(parser)
    return parse_tool_args(parser)


def main():
    args = parse_args()
    from se_plugin.cli.config import prepare_train_config  # after parsing: --help stays light
    from se_plugin.cli.run import train

    cfg = prepare_train_config(
        args.config,
        work_dir=args.work_dir,
        resume=args.resume,
        amp=args.amp,
        auto_scale_lr=args.auto_scale_lr,
        no_validate=args.no_validate,
        cfg_options=args.cfg_options,
        launcher=args.launcher,
        max_epochs=args.max_epochs,
    )
    train(cfg, partial_load=args.partial_load, verbose=args.verbose)


if __name__ == '__main__':
    run_cli(main)
