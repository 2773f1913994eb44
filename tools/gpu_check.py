"""Fast paths on a GPU: parity with the reference paths, then the AMP + channels_last table.

``bash tools/gpu_check.sh`` runs this in the pinned environment; see
``se_plugin/gpu_check.py``.
"""

from se_plugin.cli.entry import run_cli
from se_plugin.cli.parser import ToolArgumentParser, positive_int


def parse_args():
    parser = ToolArgumentParser(
        description='The fast paths on an accelerator: parity with the reference paths, then speed.'
    )
    parser.add_argument('--device', default='cuda', help='cuda[:N] (default), or cpu')
    parser.add_argument(
        '--repeats', type=positive_int, default=10, help='timed rounds of the table'
    )
    parser.add_argument('--no-speed', action='store_true', help='parity checks only')
    return parser.parse_args()


def main():
    args = parse_args()
    from se_plugin.gpu_check import run  # after parsing: --help imports no torch

    return run(args.device, args.repeats, speed=not args.no_speed)


if __name__ == '__main__':
    run_cli(main)
