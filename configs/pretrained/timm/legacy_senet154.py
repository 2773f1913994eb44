# timm legacy_senet154: SE-ResNeXt (depth 152, 64x4d, deep stem 64-64-128, Caffe's stem max pool,
#   3x3 strided shortcuts, first conv at 1/2 width, SE r=16 width C // 16).
# Test pipeline: timm's legacy_senet154.in1k (224 px, crop_pct 0.875, bilinear); weights and top-1:
# docs/pretrained.md.
_base_ = ['../_base_/timm_seresnext.py']
model = dict(
    backbone=dict(
        depth=152,
        attn_cfg=dict(divisor=1),
        groups=64,
        deep_stem=True,
        stem_channels=128,
        stem_pool='max_ceil',
        down_kernel_size=3,
        reduce_first=2,
    )
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
