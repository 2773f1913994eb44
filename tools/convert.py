"""Convert timm / mmpretrain SE / ECA / SK ResNet weights for se_plugin.

``python tools/convert.py SRC DST --from {timm,mmpretrain} --arch NAME[.TAG] [--tag TAG]
[--test-size] [--backbone-only]``
``python tools/convert.py --list``
"""

from se_plugin.cli.entry import run_cli
from se_plugin.cli.parser import ToolArgumentParser
from se_plugin.convert.archs import SOURCES


def parse_args():
    parser = ToolArgumentParser(
        description='Convert timm / mmpretrain SE / ECA / SK ResNet weights to an se_plugin '
        'checkpoint ({"state_dict", "meta"}) for load_from or init_cfg=Pretrained. The '
        "checkpoint keeps the weights' preprocessing (timm's pretrained_cfg of the tag, or "
        "mmpretrain's test pipeline) in a test config, meta['cfg'], that tools/test.py and "
        'tools/infer.py use.'
    )
    parser.add_argument('src', nargs='?', help='source file (.pth, .bin or .safetensors)')
    parser.add_argument('dst', nargs='?', help='output file (.pth)')
    parser.add_argument(
        '--from', dest='source', help=f'where the weights come from: {", ".join(SOURCES)}'
    )
    parser.add_argument(
        '--arch',
        help="source architecture (see --list), or the weights' full name: timm "
        "'seresnet50.ra2_in1k', mmpretrain 'seresnet50_8xb32_in1k'",
    )
    parser.add_argument(
        '--tag',
        help="the weights' tag (timm: e.g. ra2_in1k; mmpretrain: the model name), whose "
        "preprocessing the checkpoint keeps (default: timm's default tag of the arch)",
    )
    parser.add_argument(
        '--test-size',
        action='store_true',
        help="timm: keep the tag's test_input_size / test_crop_pct (timm's results tables) "
        'instead of its input_size / crop_pct',
    )
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


def _preprocessing(meta: dict) -> str:
    data = meta['preprocess']['data_cfg']
    if data is None:
        return meta['preprocess']['origin']
    size = 'x'.join(str(s) for s in data['input_size'][1:])
    return (
        f'{meta["source"]["weights"]}: {size} px, {data["interpolation"]}, '
        f'crop_pct {data["crop_pct"]} ({data["crop_mode"]})'
    )


def main():
    args = parse_args()
    from se_plugin.cli.paths import check_output_file
    from se_plugin.convert import convert_checkpoint
    from se_plugin.convert.tags import split_weights_name, weight_tags, weights_table

    if args.list:
        for source, name, peer, tags in weights_table():
            weights = ', '.join(tags) or 'none public'
            print(f'--from {source:<10} --arch {name:<26} <- {peer}; weights: {weights}')
        return 0
    check_output_file(args.dst, 'DST')
    arch, tag = split_weights_name(args.source, args.arch, args.tag)
    meta = convert_checkpoint(
        args.src,
        args.dst,
        args.source,
        arch,
        backbone_only=args.backbone_only,
        tag=tag,
        use_test_size=args.test_size,
    )
    backbone = meta['model']['backbone']
    head = 'no head' if meta['backbone_only'] else f'{meta["num_classes"]}-class head'
    print(
        f'saved {args.dst}: {backbone["type"]}(depth={backbone["depth"]}) with {head}, '
        f'converted from {args.source} {arch}; preprocessing of {_preprocessing(meta)}'
    )
    others = [t for t in weight_tags(args.source, arch) if t != tag]
    if tag is None and len(others) > 1:
        print(f'(no --tag given: the default weights; --tag picks another of: {", ".join(others)})')
    return 0


if __name__ == '__main__':
    run_cli(main)
