"""Average SE excitation per class at chosen SE layers (SENet Fig. 6/7).

``python tools/analysis/excitation.py CONFIG CHECKPOINT [--layers NAME ...] [--out-dir DIR]``

Writes ``<layer>.npy`` (num_classes x channels), ``<layer>.png``, ``excitation.png``
(all layers side by side) and ``summary.json``.
"""

import os.path as osp

from se_plugin.cli.entry import run_cli
from se_plugin.cli.parser import CfgOptionsAction, ToolArgumentParser


def parse_args():
    parser = ToolArgumentParser(
        description="Record the SE excitation per class over the config's test set."
    )
    parser.add_argument('config', help='config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--layers',
        nargs='+',
        metavar='NAME',
        help='SE modules by name (exact, dotted suffix like layer4.1.attn, or glob); default: '
        'the last SE layer of the first, middle and last stage',
    )
    parser.add_argument(
        '--classes', type=int, nargs='+', help='class indices to plot (default: up to 10)'
    )
    parser.add_argument('--max-samples', type=int, help='stop after this many test images')
    parser.add_argument(
        '--out-dir', help='where the arrays and plots go (default: next to the checkpoint)'
    )
    parser.add_argument('--device', help='cpu, cuda, ... (default: cuda if available)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=CfgOptionsAction,
        help='override config entries, e.g. test_dataloader.batch_size=64',
    )
    return parser.parse_args()


def main():
    args = parse_args()
    from se_plugin.analysis.excitation import analyze
    from se_plugin.cli.paths import check_output_dir

    out_dir = args.out_dir or osp.join(osp.dirname(osp.abspath(args.checkpoint)), 'excitation')
    check_output_dir(out_dir, '--out-dir')
    result, files = analyze(
        args.config,
        args.checkpoint,
        out_dir,
        layers=args.layers,
        classes=args.classes,
        max_samples=args.max_samples,
        cfg_options=args.cfg_options,
        device=args.device,
    )
    print(f'{int(result.counts.sum())} images, layers: {", ".join(result.layers)}')
    for layer in result.layers:
        stats = result.stats(layer)
        print(
            f'  {layer}: mean {stats["mean"]:.3f}, class spread {stats["class_spread"]:.4f} '
            f'(max {stats["max_class_spread"]:.3f}), saturated (>0.95) {stats["saturated"]:.0%}'
        )
    for path in files:
        print(f'saved {path}')


if __name__ == '__main__':
    run_cli(main)
