# Base of timm's ResNet-RS configs (docs/pretrained.md): SE-ResNet with the deep stem
# 32-32-64, avg-pool shortcuts, a strided conv as stem pool and SE r=4; the test pipeline of
# the 256 px tags (crop_pct 1.0, bicubic), which each arch at another size replaces.
_base_ = ['./timm_seresnet.py']
model = dict(
    backbone=dict(
        attn_cfg=dict(ratio=4), deep_stem=True, stem_channels=64, avg_down=True, stem_pool='conv'
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
