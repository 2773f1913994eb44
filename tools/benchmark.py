"""Speed relative to a baseline: ``python tools/benchmark.py MODEL [MODEL ...] [options]``.

Example (the SE-ResNet-50 target: train step <= 1.03x torchvision ResNet-50)::

    python tools/benchmark.py se_plugin.SEResNet:depth=50 timm.seresnet50 \\
        --baseline torchvision.resnet50 --mode train --threads 2 --out work_dirs/bench.json

See the ``se_plugin.benchmark`` package for the model specs and the method.
"""

from se_plugin.cli.entry import run_cli
from se_plugin.cli.parser import ToolArgumentParser, non_negative_int, positive_int


def parse_args(argv=None):
    parser = ToolArgumentParser(
        description='Time train steps / inference of models against a baseline in one process.'
    )
    parser.add_argument(
        'models',
        nargs='+',
        help='model specs: se_plugin.SEResNet:depth=50, mmpretrain.ResNeXt:depth=50, '
        'torchvision.resnet50, timm.seresnet50, or a config .py file (optionally :key=value,...)',
    )
    parser.add_argument('--baseline', help='model spec the ratios are relative to')
    parser.add_argument('--batch', type=positive_int, default=8, help='batch size (default 8)')
    parser.add_argument(
        '--size', type=positive_int, default=224, help='input size in pixels (default 224)'
    )
    parser.add_argument('--num-classes', type=positive_int, default=1000)
    parser.add_argument('--mode', choices=['inference', 'train', 'both'], default='both')
    parser.add_argument('--channels-last', action='store_true', help='NHWC memory format')
    parser.add_argument('--compile', action='store_true', help='torch.compile every model')
    parser.add_argument('--amp', action='store_true', help='autocast: bf16 on CPU, fp16 on CUDA')
    parser.add_argument('--device', default='cpu', help='cpu or cuda[:N] (default cpu)')
    parser.add_argument(
        '--threads',
        type=positive_int,
        help='torch intra-op threads (default: what torch has; printed with the results)',
    )
    parser.add_argument(
        '--timer',
        choices=['wall', 'cpu'],
        default='wall',
        help='wall: elapsed time (default); cpu: process CPU time, robust on a shared machine '
        '(needs --threads 1, CPU only)',
    )
    parser.add_argument(
        '--warmup', type=non_negative_int, default=2, help='untimed steps per model'
    )
    parser.add_argument(
        '--repeats', type=positive_int, default=10, help='timed rounds (round-robin)'
    )
    parser.add_argument(
        '--skip-missing',
        action='store_true',
        help='leave out models whose optional library (timm) is not installed',
    )
    parser.add_argument('--out', help='write the results as JSON here')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from se_plugin.benchmark import (
        Options,
        available,
        describe,
        markdown_table,
        run_benchmark,
        save_json,
    )
    from se_plugin.cli.paths import check_output_file

    if args.out:
        check_output_file(args.out, '--out')
    models = args.models
    if args.skip_missing:
        models = [m for m in models if available(m)]
    opts = Options(
        batch_size=args.batch,
        input_size=args.size,
        num_classes=args.num_classes,
        modes=('inference', 'train') if args.mode == 'both' else (args.mode,),
        channels_last=args.channels_last,
        compile=args.compile,
        amp=args.amp,
        device=args.device,
        warmup=args.warmup,
        repeats=args.repeats,
        threads=args.threads,
        timer=args.timer,
    )
    report = run_benchmark(models, baseline=args.baseline, opts=opts)
    print()
    print(describe(report['environment'], opts))
    print(markdown_table(report))
    if args.out:
        save_json(report, args.out)
        print(f'results written to {args.out}')


if __name__ == '__main__':
    run_cli(main)
