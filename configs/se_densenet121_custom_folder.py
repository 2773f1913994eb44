# SE-DenseNet-121 fine-tuned on your own images, one folder per class (mmpretrain's
# CustomDataset; classes are the folder names, sorted):
#   data/custom/train/<class>/*.jpg|png|...   training images
#   data/custom/val/<class>/*.jpg|png|...     validation images (same class folders)
# Set `num_classes` (below) to the number of class folders, then
#   python tools/train.py configs/se_densenet121_custom_folder.py
# The backbone starts from mmpretrain's ImageNet DenseNet-121 weights (downloaded once;
# SEDenseNet keeps DenseNet's parameter names, so they load as they are) and the SE layer
# from scratch. Offline: --cfg-options model.backbone.init_cfg=None
_base_ = ['_base_/datasets/custom_folder.py', '_base_/default_runtime.py']

num_classes = 2

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='se_plugin.SEDenseNet',
        arch='121',
        attn_cfg=dict(type='se_plugin.SELayer', ratio=16),
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://download.openmmlab.com/mmclassification/v0/densenet/'
            'densenet121_4xb256_in1k_20220426-07450f99.pth',
            prefix='backbone',
        ),
    ),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=num_classes,
        in_channels=1024,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1,),
    ),
)

data_preprocessor = dict(num_classes=num_classes)
val_evaluator = dict(topk=(1, 5) if num_classes >= 5 else (1,))
test_evaluator = val_evaluator

# fine-tuning schedule: SGD lr 0.01 for 32 images per step, cosine over 30 epochs
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0001),
)
param_scheduler = dict(type='CosineAnnealingLR', by_epoch=True, T_max=30, eta_min=0.0)
train_cfg = dict(by_epoch=True, max_epochs=30, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=32)
default_hooks = dict(checkpoint=dict(max_keep_ckpts=1, save_best='auto'))
