# timm seresnextaa101d_32x8d: SE-ResNeXt (depth 101, 32x8d, deep stem 32-32-64, avg-pool shortcuts,
#   anti-aliased (2x2 average) downsampling, SE r=16).
# Test pipeline: timm's seresnextaa101d_32x8d.sw_in12k_ft_in1k_288 (288 px, crop_pct 0.95,
# bicubic); weights and top-1: docs/pretrained.md.
_base_ = ['../_base_/timm_seresnext.py']
model = dict(
    backbone=dict(
        depth=101,
        width_per_group=8,
        deep_stem=True,
        stem_channels=64,
        avg_down=True,
        anti_alias='avg',
    )
)
test_pipeline = [
    dict(
        type='LoadImageFromFile', imdecode_backend='pillow', color_type='color_ignore_orientation'
    ),
    dict(type='ResizeEdge', scale=303, edge='short', backend='pillow', interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=288),
    dict(type='PackInputs'),
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
