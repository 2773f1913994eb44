# timm ecaresnet269d: ECA-ResNet (blocks 3-30-48-8, deep stem 32-32-64, avg-pool shortcuts).
# Test pipeline: timm's ecaresnet269d.ra2_in1k (320 px, crop_pct 0.95, bicubic); weights and top-1:
# docs/pretrained.md.
_base_ = ['../_base_/timm_seresnet.py']
model = dict(
    backbone=dict(
        attn_cfg=dict(_delete_=True, type='se_plugin.ECALayer'),
        stage_blocks=(3, 30, 48, 8),
        deep_stem=True,
        stem_channels=64,
        avg_down=True,
    )
)
test_pipeline = [
    dict(
        type='LoadImageFromFile', imdecode_backend='pillow', color_type='color_ignore_orientation'
    ),
    dict(type='ResizeEdge', scale=336, edge='short', backend='pillow', interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=320),
    dict(type='PackInputs'),
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
