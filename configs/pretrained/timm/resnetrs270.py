# timm resnetrs270: SE-ResNet (blocks 4-29-53-4, deep stem 32-32-64, avg-pool shortcuts, strided
#   conv as stem pool, SE r=4).
# Test pipeline: timm's resnetrs270.tf_in1k (256 px, crop_pct 1.0, bicubic); weights and top-1:
# docs/pretrained.md.
_base_ = ['../_base_/timm_seresnet.py']
model = dict(
    backbone=dict(
        attn_cfg=dict(ratio=4),
        stage_blocks=(4, 29, 53, 4),
        deep_stem=True,
        stem_channels=64,
        avg_down=True,
        stem_pool='conv',
    )
)
test_pipeline = [
    dict(
        type='LoadImageFromFile', imdecode_backend='pillow', color_type='color_ignore_orientation'
    ),
    dict(type='ResizeEdge', scale=256, edge='short', backend='pillow', interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=256),
    dict(type='PackInputs'),
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
