# SE-ResNet-50 (SENet, arXiv 1709.01507): r=16 in every block of every stage.
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='se_plugin.SEResNet',
        depth=50,
        attn_cfg=dict(
            type='se_plugin.SELayer',
            ratio=16,
            squeeze='avg',
            act_cfg=(dict(type='ReLU'), dict(type='Sigmoid')),
        ),
        attn_position='standard',
        attn_stages=(True, True, True, True),
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
