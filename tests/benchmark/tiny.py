"""Tiny model specs and options, so the benchmark tests stay fast."""

TINY = 'se_plugin.SEResNet:depth=18,base_channels=8,stem_channels=8,attn_cfg.ratio=4'
TINY_OPTS = dict(batch_size=2, input_size=32, num_classes=10, warmup=1, repeats=3, threads=1)
