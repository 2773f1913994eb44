# timm resnetrs420: SE-ResNet (blocks 4-44-87-4, deep stem 32-32-64, avg-pool shortcuts, strided
#   conv as stem pool, SE r=4).
# Test pipeline: timm's resnetrs420.tf_in1k (320 px, crop_pct 1.0, bicubic); weights and top-1:
# docs/pretrained.md.
_base_ = ['../_base_/timm_resnetrs.py']
model = dict(backbone=dict(stage_blocks=(4, 44, 87, 4)))
test_pipeline = [
    dict(
        type='LoadImageFromFile', imdecode_backend='pillow', color_type='color_ignore_orientation'
    ),
    dict(type='ResizeEdge', scale=320, edge='short', backend='pillow', interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=320),
    dict(type='PackInputs'),
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
