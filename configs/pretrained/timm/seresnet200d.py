# timm seresnet200d: SE-ResNet (blocks 3-24-36-3, deep stem 32-32-64, avg-pool shortcuts, SE r=16).
# timm publishes no weights for it (your own timm checkpoints).
_base_ = ['../_base_/timm_seresnet.py']
model = dict(
    backbone=dict(stage_blocks=(3, 24, 36, 3), deep_stem=True, stem_channels=64, avg_down=True)
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
