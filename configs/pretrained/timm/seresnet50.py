# timm seresnet50: SE-ResNet (depth 50, SE r=16).
# Test pipeline: timm's seresnet50.a1_in1k (224 px, crop_pct 0.95, bicubic); weights and top-1:
# docs/pretrained.md.
_base_ = ['../_base_/timm_seresnet.py']
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
