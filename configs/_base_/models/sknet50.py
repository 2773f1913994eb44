# SKNet-50 (SKNet, arXiv 1903.06586): ResNeXt-50 (32x4d) whose 3x3 convs are
# SK[M=2, G=32, r=16] with L=32 (paper Table 1): 27.5M parameters.
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='se_plugin.SKNet',
        depth=50,
        num_paths=2,
        sk_ratio=16,
        min_channels=32,
        groups=32,
        width_per_group=4,
        attn_cfg=None,
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
