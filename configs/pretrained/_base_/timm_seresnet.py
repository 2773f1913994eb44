# Base of the configs of timm's SE / ECA ResNets converted by tools/convert.py
# (docs/pretrained.md): the model of timm's seresnet50 (SEModule: SE r=16, widths rounded
# to multiples of 8, standard position) and ImageNet-1k evaluated as timm evaluates its
# weights (Pillow decoding without EXIF rotation, the shorter side resized to
# floor(size / crop_pct) with the tag's interpolation, centre crop), the standard schedule.
_base_ = [
    '../../_base_/datasets/imagenet_bs32.py',
    '../../_base_/schedules/imagenet_bs256.py',
    '../../_base_/default_runtime.py',
]
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='se_plugin.SEResNet',
        depth=50,
        attn_cfg=dict(type='se_plugin.SELayer', ratio=16, divisor=8),
        out_indices=(3,),
    ),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=2048,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5),
    ),
)
test_pipeline = [
    dict(
        type='LoadImageFromFile', imdecode_backend='pillow', color_type='color_ignore_orientation'
    ),
    dict(type='ResizeEdge', scale=256, edge='short', backend='pillow', interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
# --tta: a horizontal flip after each arch's own test pipeline (the ImageNet base's views
# follow that base's pipeline, not the source's)
tta_pipeline = None
