# SE-DenseNet-121 on ImageNet-1k: mmpretrain's DenseNet-121 with an SE layer (r=16)
# recalibrating the 1024 channels of the last dense block (SEDenseNet default); for SE
# after every dense block set attn_stages=(True, True, True, True).
# SENet's ImageNet recipe from _base_ (SGD lr 0.1 for 256 images per step, lr / 10 every
# 30 epochs), cut to the 90 epochs of mmpretrain's DenseNet recipe.
_base_ = [
    '_base_/datasets/imagenet_bs32.py',
    '_base_/schedules/imagenet_bs256.py',
    '_base_/default_runtime.py',
]
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='se_plugin.SEDenseNet',
        arch='121',
        attn_cfg=dict(type='se_plugin.SELayer', ratio=16),
        attn_stages=(False, False, False, True),
    ),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=1024,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5),
    ),
)
train_cfg = dict(max_epochs=90)
