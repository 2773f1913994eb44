"""Convert timm / mmpretrain SE / ECA / SK ResNet weights for se_plugin.

``python tools/convert.py SRC DST --from {timm,mmpretrain} --arch NAME [--backbone-only]``
``python tools/convert.py --list``
"""

import se_plugin  # noqa: F401  (registers se_plugin modules, safe checkpoint loading)
from se_plugin.cli.entry import run_cli
from se_plugin.cli.parser import ToolArgumentParser
from se_plugin.convert.archs import SOURCES


def parse_args():
    parser = ToolArgumentParser(
        description='Convert timm / mmpretrain SE / ECA / SK ResNet weights to an se_plugin '
        'checkpoint ({"state_dict", "meta"}) for load_from or init_cfg=Pretrained.'
    )
    parser.add_argument('src', nargs='?', help='source file (.pth, .bin or .safetensors)')
    parser.add_argument('dst', nargs='?', help='output file (.pth)')
    parser.add_argument(
        '--from', dest='source', help=f'where the weights come from: {", ".join(SOURCES)}'
    )
    parser.add_argument('--arch', help='source architecture name (see --list)')
    parser.add_argument(
        '--backbone-only',
        action='store_true',
        help='drop the classifier head (to fine-tune with a new head)',
    )
    parser.add_argument(
        '--list', action='store_true', help='list the convertible archs and their weight tags'
    )
    args = parser.parse_args()
    if not args.list:
        missing = [
            name
            for name, value in (('SRC', args.src), ('DST', args.dst), ('--from', args.source))
            if value is None
        ] + (['--arch'] if args.arch is None else [])
        if missing:
            parser.error(f'missing {", ".join(missing)}')
    return args


def main():
    args = parse_args()
    from se_plugin.cli.paths import check_output_file
    from se_plugin.convert import convert_checkpoint
    from se_plugin.convert.tags import weights_table

    if args.list:
        for source, name, peer, tags in weights_table():
            weights = ', '.join(tags) or 'none public'
            print(f'--from {source:<10} --arch {name:<26} <- {peer}; weights: {weights}')
        return 0
    check_output_file(args.dst, 'DST')
    meta = convert_checkpoint(
        args.src, args.dst, args.source, args.arch, backbone_only=args.backbone_only
    )
    backbone = meta['model']['backbone']
    head = 'no head' if meta['backbone_only'] else f'{meta["num_classes"]}-class head'
    print(
        f'saved {args.dst}: {backbone["type"]}(depth={backbone["depth"]}) with {head}, '
        f'converted from {args.source} {args.arch}'
    )
    return 0


if __name__ == '__main__':
    run_cli(main)
