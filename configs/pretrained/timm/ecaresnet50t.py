# timm ecaresnet50t: ECA-ResNet (depth 50, tiered deep stem 24-32-64, avg-pool shortcuts).
# Test pipeline: timm's ecaresnet50t.ra2_in1k (256 px, crop_pct 0.875, bicubic); weights and top-1:
# docs/pretrained.md.
_base_ = ['../_base_/timm_seresnet.py']
model = dict(
    backbone=dict(
        attn_cfg=dict(_delete_=True, type='se_plugin.ECALayer'),
        deep_stem=True,
        stem_channels=64,
        deep_stem_channels=(24, 32, 64),
        avg_down=True,
    )
)
test_pipeline = [
    dict(
        type='LoadImageFromFile', imdecode_backend='pillow', color_type='color_ignore_orientation'
    ),
    dict(type='ResizeEdge', scale=292, edge='short', backend='pillow', interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=256),
    dict(type='PackInputs'),
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
