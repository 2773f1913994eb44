# timm legacy_seresnet101: SE-ResNet (depth 101, Caffe's stem max pool, stride in the first 1x1
#   conv, SE r=16 width C // 16).
# Test pipeline: timm's legacy_seresnet101.in1k (224 px, crop_pct 0.875, bilinear); weights and
# top-1: docs/pretrained.md.
_base_ = ['../_base_/timm_seresnet.py']
model = dict(
    backbone=dict(depth=101, attn_cfg=dict(divisor=1), stem_pool='max_ceil', style='caffe')
)
test_pipeline = [
    dict(
        type='LoadImageFromFile', imdecode_backend='pillow', color_type='color_ignore_orientation'
    ),
    dict(type='ResizeEdge', scale=256, edge='short', backend='pillow', interpolation='bilinear'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
