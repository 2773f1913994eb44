# A small SE-ResNet-18 for 28x28 grey digits: CIFAR-style 3x3 stem, widths 16-128.
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='se_plugin.SEResNet',
        depth=18,
        in_channels=1,
        stem_channels=16,
        base_channels=16,
        stem_type='cifar',
        se_cfg=dict(type='se_plugin.SELayer', ratio=4),
        se_position='standard',
        se_stages=(True, True, True, True),
        out_indices=(3,),
    ),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=10,
        in_channels=128,
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, loss_weight=1.0),
        topk=(1,),
    ),
)
