# timm seresnextaa201d_32x8d: SE-ResNeXt (blocks 3-24-36-4, 32x8d, deep stem 64-64-128, avg-pool
#   shortcuts, anti-aliased (2x2 average) downsampling, SE r=16).
# Test pipeline: timm's seresnextaa201d_32x8d.sw_in12k_ft_in1k_384 (384 px, crop_pct 1.0, bicubic);
# weights and top-1: docs/pretrained.md.
_base_ = ['../_base_/timm_seresnext.py']
model = dict(
    backbone=dict(
        stage_blocks=(3, 24, 36, 4),
        width_per_group=8,
        deep_stem=True,
        stem_channels=128,
        avg_down=True,
        anti_alias='avg',
    )
)
test_pipeline = [
    dict(
        type='LoadImageFromFile', imdecode_backend='pillow', color_type='color_ignore_orientation'
    ),
    dict(type='ResizeEdge', scale=384, edge='short', backend='pillow', interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=384),
    dict(type='PackInputs'),
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
