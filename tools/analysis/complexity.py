"""Parameters and FLOPs of configs' models as a markdown table.

``python tools/analysis/complexity.py CONFIG [CONFIG ...] [--shape H W] [--out FILE.md]``
``python tools/analysis/complexity.py --metafile`` (model-index.yml + configs/*/metafile.yml)
"""

import shlex
import sys

from se_plugin.cli.entry import run_cli
from se_plugin.cli.parser import CfgOptionsAction, ToolArgumentParser


def parse_args():
    parser = ToolArgumentParser(
        description='Count parameters and FLOPs (mmengine.analysis) of the models of configs.'
    )
    parser.add_argument('configs', nargs='*', metavar='CONFIG', help='config file paths')
    parser.add_argument(
        '--shape',
        type=int,
        nargs='+',
        metavar='N',
        help='input size: S (square), H W, or C H W; default: the config test-time crop/resize '
        '(MNIST-5k: 1x28x28)',
    )
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=CfgOptionsAction,
        help='override config entries of every config, e.g. model.backbone.attn_cfg.ratio=8',
    )
    parser.add_argument('--out', metavar='FILE.md', help='also write the table (and command) here')
    parser.add_argument(
        '--metafile',
        action='store_true',
        help='write model-index.yml and configs/<family>/metafile.yml (OpenMMLab model-zoo '
        'schema, for mim) for every model config, run from the repository root',
    )
    args = parser.parse_args()
    if bool(args.configs) == args.metafile:
        parser.error('give CONFIG ... or --metafile (alone)')
    return args


def main():
    args = parse_args()
    from se_plugin.analysis.complexity import config_complexity, markdown_table, report
    from se_plugin.analysis.metafile import write_metafiles
    from se_plugin.cli.paths import check_output_file
    from se_plugin.runtime.atomic import atomic_open

    if args.out:
        check_output_file(args.out, '--out')
    if args.metafile:
        check_output_file('model-index.yml', '--metafile')
        for path in write_metafiles('.'):
            print(f'saved {path}')
        return
    rows = [config_complexity(c, args.shape, args.cfg_options) for c in args.configs]
    print(markdown_table(rows), end='')
    if args.out:
        command = shlex.join(['python', 'tools/analysis/complexity.py', *sys.argv[1:]])
        with atomic_open(args.out, 'w') as f:
            f.write(report(rows, command))
        print(f'saved {args.out}')


if __name__ == '__main__':
    run_cli(main)
