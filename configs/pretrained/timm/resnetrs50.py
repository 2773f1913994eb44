# timm resnetrs50: SE-ResNet (depth 50, deep stem 32-32-64, avg-pool shortcuts, strided conv as
#   stem pool, SE r=4).
# Test pipeline: timm's resnetrs50.tf_in1k (160 px, crop_pct 0.91, bicubic); weights and top-1:
# docs/pretrained.md.
_base_ = ['../_base_/timm_resnetrs.py']
test_pipeline = [
    dict(
        type='LoadImageFromFile', imdecode_backend='pillow', color_type='color_ignore_orientation'
    ),
    dict(type='ResizeEdge', scale=175, edge='short', backend='pillow', interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=160),
    dict(type='PackInputs'),
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
