# A small SE-ResNet-18 for 28x28 grey digits: 3x3 stride-1 stem, then four
# stride-2 stages (14, 7, 4, 2 px) of widths 32-256 (~30 MFLOPs per image).
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='se_plugin.SEResNet',
        depth=18,
        in_channels=1,
        stem_channels=32,
        base_channels=32,
        strides=(2, 2, 2, 2),
        stem_type='cifar',
        attn_cfg=dict(type='se_plugin.SELayer', ratio=4),
        attn_position='standard',
        attn_stages=(True, True, True, True),
        out_indices=(3,),
    ),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=10,
        in_channels=256,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1,),
    ),
)
