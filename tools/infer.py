"""Predict the classes of images with a checkpoint.

``python tools/infer.py CHECKPOINT IMAGE_OR_FOLDER... [--config CONFIG] [--topk 5]
[--out preds.json] [--device cpu|cuda]``

The config comes from the checkpoint (``meta['cfg']``: converted checkpoints and
training checkpoints carry it) unless ``--config`` is given.
"""

import se_plugin  # noqa: F401  (registers se_plugin modules, safe checkpoint loading)
from se_plugin.cli.entry import run_cli
from se_plugin.cli.parser import ToolArgumentParser, positive_int


def parse_args():
    parser = ToolArgumentParser(
        description='Predict image classes with a checkpoint: top-k per image on the '
        'console, every class probability with --out. The model and its test pipeline come '
        "from the checkpoint's meta['cfg'] (tools/convert.py and training write it) or --config."
    )
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('images', nargs='+', metavar='IMAGE_OR_FOLDER', help='images or folders')
    parser.add_argument('--config', help="config file (default: the checkpoint's meta['cfg'])")
    parser.add_argument('--topk', type=positive_int, default=5, help='classes shown per image')
    parser.add_argument('--out', metavar='FILE.json', help='write every prediction as JSON')
    parser.add_argument(
        '--device', default=None, help="'cpu', 'cuda' or 'cuda:N' (default: cuda if available)"
    )
    parser.add_argument('--batch-size', type=positive_int, default=8, help='images per forward')
    args = parser.parse_args()
    if args.out is not None and not args.out.endswith('.json'):
        parser.error(f'--out must be a .json file, got {args.out!r}')
    return args


def main():
    args = parse_args()
    import torch

    from se_plugin.apis import inference_model, init_model, list_images
    from se_plugin.apis.report import format_predictions, write_predictions
    from se_plugin.cli.config import check_checkpoint_path
    from se_plugin.cli.paths import check_output_file
    from se_plugin.runtime.logs import quiet_mmengine

    if args.out is not None:
        check_output_file(args.out, '--out')
    check_checkpoint_path(args.checkpoint)
    images = list_images(args.images)
    device = args.device or ('cuda' if torch.cuda.is_available() else 'cpu')
    with quiet_mmengine():
        model = init_model(args.config or args.checkpoint, args.checkpoint, device=device)
        results = inference_model(model, images, topk=args.topk, batch_size=args.batch_size)
    print(format_predictions(results))
    if args.out is not None:
        write_predictions(results, args.out)
        print(f'{len(results)} predictions written to {args.out}')
    return 0


if __name__ == '__main__':
    run_cli(main)
