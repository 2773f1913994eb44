# timm resnetrs350: SE-ResNet (blocks 4-36-72-4, deep stem 32-32-64, avg-pool shortcuts, strided
#   conv as stem pool, SE r=4).
# Test pipeline: timm's resnetrs350.tf_in1k (288 px, crop_pct 1.0, bicubic); weights and top-1:
# docs/pretrained.md.
_base_ = ['../_base_/timm_resnetrs.py']
model = dict(backbone=dict(stage_blocks=(4, 36, 72, 4)))
test_pipeline = [
    dict(
        type='LoadImageFromFile', imdecode_backend='pillow', color_type='color_ignore_orientation'
    ),
    dict(type='ResizeEdge', scale=288, edge='short', backend='pillow', interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=288),
    dict(type='PackInputs'),
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
