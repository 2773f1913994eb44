"""Export a model for deployment and check it against PyTorch.

``python tools/export.py CONFIG [CHECKPOINT] --out FILE [--format onnx|torchscript|export]``

Prints the max abs difference between the exported model and PyTorch on random
inputs of every batch size (with ``--dynamic-hw`` also at the sizes the graph
promises, down to 1x1 feature maps). When they differ beyond the tolerance the
file is not written (an earlier file at ``--out`` is kept) and the exit code is 2.
"""

from se_plugin.cli.entry import run_cli
from se_plugin.cli.parser import EXIT_USER_ERROR, CfgOptionsAction, ToolArgumentParser
from se_plugin.export_options import (
    DEFAULT_ONNX_EXPORTER,
    DEFAULT_OPSET,
    FORMATS,
    ONNX_EXPORTERS,
    OPSETS,
)


def parse_args():
    parser = ToolArgumentParser(
        description="Export a config's model (eval mode, logits of preprocessed images) to "
        'ONNX, TorchScript or torch.export, and check it against PyTorch.'
    )
    parser.add_argument('config', help='config file path')
    parser.add_argument('checkpoint', nargs='?', help='checkpoint (default: random weights)')
    parser.add_argument('--out', required=True, metavar='FILE', help='output file')
    parser.add_argument('--format', choices=FORMATS, default='onnx', help='default: onnx')
    parser.add_argument(
        '--shape',
        type=int,
        nargs='+',
        metavar='N',
        help='input size: S, H W or C H W (default: the config test-time size)',
    )
    parser.add_argument(
        '--dynamic-hw', action='store_true', help='dynamic height and width (batch is always)'
    )
    parser.add_argument(
        '--opset',
        type=int,
        default=DEFAULT_OPSET,
        help=f'ONNX opset (torchscript exporter: {OPSETS["torchscript"][0]}..'
        f'{OPSETS["torchscript"][1]}, dynamo: {OPSETS["dynamo"][0]}..{OPSETS["dynamo"][1]}; '
        f'default: {DEFAULT_OPSET})',
    )
    parser.add_argument(
        '--onnx-exporter',
        choices=ONNX_EXPORTERS,
        default=DEFAULT_ONNX_EXPORTER,
        help='torchscript: torch.onnx.export(dynamo=False), as mmdeploy; dynamo: through '
        f'torch.export (default: {DEFAULT_ONNX_EXPORTER})',
    )
    parser.add_argument(
        '--batch-sizes', type=int, nargs='+', default=[1, 3], help='parity check batch sizes (>= 1)'
    )
    parser.add_argument('--atol', type=float, default=1e-4, help='absolute tolerance (>= 0)')
    parser.add_argument(
        '--rtol', type=float, default=1e-4, help='tolerance relative to max |out| (>= 0)'
    )
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=CfgOptionsAction,
        help='override config entries, e.g. model.backbone.attn_cfg.ratio=8',
    )
    return parser.parse_args()


def main():
    args = parse_args()
    from se_plugin.cli.paths import check_output_file
    from se_plugin.export import export_config, format_result

    check_output_file(args.out, '--out')
    result = export_config(
        args.config,
        args.out,
        checkpoint=args.checkpoint,
        fmt=args.format,
        shape=args.shape,
        cfg_options=args.cfg_options,
        dynamic_hw=args.dynamic_hw,
        opset=args.opset,
        onnx_exporter=args.onnx_exporter,
        batch_sizes=args.batch_sizes,
        atol=args.atol,
        rtol=args.rtol,
    )
    print(format_result(result))
    return 0 if result.ok else EXIT_USER_ERROR


if __name__ == '__main__':
    run_cli(main)
