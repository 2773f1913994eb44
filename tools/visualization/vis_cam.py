"""Class activation maps (Grad-CAM, ...) of a trained classifier, as mmpretrain's vis_cam.py.

``python tools/visualization/vis_cam.py IMG [IMG ...] CONFIG CHECKPOINT --save-path OUT.png
[--target-layers backbone.layer4[-1]] [--method GradCAM] [--target-category 3]``
"""

from se_plugin.analysis.cam import METHODS, visualize_cam
from se_plugin.cli.entry import run_cli
from se_plugin.cli.parser import CfgOptionsAction, ToolArgumentParser


def parse_args():
    parser = ToolArgumentParser(
        description='Draw the class activation map of each image (pytorch_grad_cam), one '
        'panel per image, titled with the prediction.'
    )
    parser.add_argument('img', nargs='+', metavar='IMG', help='image file(s)')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--save-path', required=True, metavar='OUT.png', help='picture file')
    parser.add_argument(
        '--target-layers',
        nargs='+',
        help='layer names, e.g. backbone.layer4[-1] (default: the last block of the last stage)',
    )
    parser.add_argument(
        '--method', default='GradCAM', help=f'one of {", ".join(METHODS)} (any case)'
    )
    parser.add_argument(
        '--target-category',
        type=int,
        nargs='+',
        help='class whose CAM is drawn: one for all images or one per image (default: predicted)',
    )
    parser.add_argument('--eigen-smooth', action='store_true', help='first principal component')
    parser.add_argument('--aug-smooth', action='store_true', help='test-time augmentation')
    parser.add_argument('--title', help='figure title')
    parser.add_argument(
        '--cfg-options', nargs='+', action=CfgOptionsAction, help='override config entries'
    )
    return parser.parse_args()


def main():
    args = parse_args()
    from se_plugin.cli.paths import check_output_file

    check_output_file(args.save_path, '--save-path')
    result = visualize_cam(
        args.img,
        args.config,
        args.checkpoint,
        args.save_path,
        target_layers=args.target_layers,
        method=args.method,
        target_category=args.target_category,
        cfg_options=args.cfg_options,
        title=args.title,
        eigen_smooth=args.eigen_smooth,
        aug_smooth=args.aug_smooth,
    )
    print(f'target layers: {", ".join(result["layers"])}; method: {args.method}')
    print(f'predictions: {" ".join(map(str, result["predictions"]))}')
    print(f'saved {args.save_path}')


if __name__ == '__main__':
    run_cli(main)
