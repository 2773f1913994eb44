# timm seresnext101d_32x8d: SE-ResNeXt (depth 101, 32x8d, deep stem 32-32-64, avg-pool shortcuts,
#   SE r=16).
# Test pipeline: timm's seresnext101d_32x8d.ah_in1k (224 px, crop_pct 0.95, bicubic); weights and
# top-1: docs/pretrained.md.
_base_ = ['../_base_/timm_seresnext.py']
model = dict(
    backbone=dict(depth=101, width_per_group=8, deep_stem=True, stem_channels=64, avg_down=True)
)
test_pipeline = [
    dict(
        type='LoadImageFromFile', imdecode_backend='pillow', color_type='color_ignore_orientation'
    ),
    dict(type='ResizeEdge', scale=235, edge='short', backend='pillow', interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
