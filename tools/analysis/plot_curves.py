"""Plot training curves from mmengine's scalars.json logs.

``python tools/analysis/plot_curves.py WORK_DIR [WORK_DIR ...] [--keys loss accuracy/top1 lr]
--out OUT.png``
"""

from se_plugin.analysis.curves import DEFAULT_KEYS, plot_curves
from se_plugin.cli.entry import run_cli
from se_plugin.cli.parser import ToolArgumentParser


def parse_args():
    parser = ToolArgumentParser(
        description='Plot logged scalars (loss, accuracy/top1, lr, ...) of one or more '
        'mmengine work dirs (their <timestamp>/vis_data/scalars.json) on one figure.'
    )
    parser.add_argument('work_dirs', nargs='+', metavar='WORK_DIR', help='work dirs to compare')
    parser.add_argument(
        '--keys', nargs='+', default=list(DEFAULT_KEYS), help='logged keys, one panel each'
    )
    parser.add_argument('--labels', nargs='+', help='legend entries (default: folder names)')
    parser.add_argument('--title', help='figure title')
    parser.add_argument('--out', required=True, metavar='OUT.png', help='picture file')
    return parser.parse_args()


def main():
    args = parse_args()
    from se_plugin.cli.paths import check_output_file

    check_output_file(args.out, '--out')
    data = plot_curves(args.work_dirs, args.out, args.keys, args.labels, args.title)
    for label, runs in data.items():
        last = ', '.join(f'{key} {ys[-1]:.4g}' for key, (_, ys) in runs.items())
        print(f'{label}: last {last}')
    print(f'saved {args.out}')


if __name__ == '__main__':
    run_cli(main)
