"""Ablation sweep: train + test every grid point (and seed), then tabulate and plot.

``python tools/ablate.py CONFIG --sweep KEY=V1,V2,... [--sweep ...] [--seeds 0 1 2]
[--max-epochs N] [--work-dir WORK]``

Values are separated by commas outside brackets, so tuples need no other separator:
``--sweep 'model.backbone.attn_stages=(False,True,True,True),(True,True,True,True)'``.
Rerunning the same command skips finished runs and resumes interrupted ones.
See :mod:`se_plugin.sweep` (and :mod:`se_plugin.sweep.records` for the layout of WORK).
"""

import shlex
import sys

from se_plugin.cli.entry import run_cli
from se_plugin.cli.parser import CfgOptionsAction, ToolArgumentParser, positive_int
from se_plugin.sweep.report import DEFAULT_METRIC


def parse_args():
    parser = ToolArgumentParser(
        description='Sweep config keys: one real train + test per point and seed, '
        'aggregated into results.csv/.md/.png in the work dir.'
    )
    parser.add_argument('config', help='config file path')
    parser.add_argument(
        '--sweep',
        action='append',
        metavar='KEY=V1,V2,...',
        help='a config key and its values (commas outside brackets separate values); '
        'repeat for a grid',
    )
    parser.add_argument('--seeds', type=int, nargs='+', default=[0], help='seeds (default: 0)')
    parser.add_argument(
        '--work-dir', help='where the runs and results go (default: work_dirs/ablate_<config>)'
    )
    parser.add_argument(
        '--max-epochs',
        type=positive_int,
        metavar='N',
        help='train N epochs, the parameter schedule scaled to N (as train.py --max-epochs: '
        'warm-up, milestones and cosine keep their place in the run)',
    )
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=CfgOptionsAction,
        help='override config entries of every run, e.g. train_dataloader.batch_size=32',
    )
    parser.add_argument(
        '--metric',
        default=DEFAULT_METRIC,
        help=f'test metric to tabulate and plot (default: {DEFAULT_METRIC})',
    )
    parser.add_argument(
        '--validate',
        action='store_true',
        help="keep the config's validation during training (default: off; every run is "
        'scored on the test set after training)',
    )
    parser.add_argument(
        '--shape',
        type=int,
        nargs='+',
        metavar='N',
        help='input size for the FLOPs column (S, H W or C H W; default: from the config)',
    )
    parser.add_argument(
        '--baseline',
        metavar='WORK_DIR',
        help='a finished one-point sweep (e.g. the config without attention) to draw as a '
        'reference line and row',
    )
    parser.add_argument(
        '--keep-going', action='store_true', help='go on with the other runs when one fails'
    )
    parser.add_argument(
        '--dry-run', action='store_true', help='check the sweep and list the points only'
    )
    return parser.parse_args()


def main():
    args = parse_args()
    from se_plugin.sweep import run_sweep  # after parsing: --help imports no torch

    return run_sweep(
        args.config,
        metric=args.metric,
        keep_going=args.keep_going,
        dry_run=args.dry_run,
        command=shlex.join(['python', 'tools/ablate.py', *sys.argv[1:]]),
        sweeps=args.sweep,
        seeds=args.seeds,
        work_dir=args.work_dir,
        max_epochs=args.max_epochs,
        cfg_options=args.cfg_options,
        validate=args.validate,
        shape=args.shape,
        baseline=args.baseline,
    )


if __name__ == '__main__':
    run_cli(main)
