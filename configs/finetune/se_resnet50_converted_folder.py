# Fine-tune converted SE-ResNet-50 ImageNet weights on your own images, one folder per
# class in data/custom/{train,val}/<class>/ (configs/_base_/datasets/custom_folder.py):
#
#   python tools/convert.py seresnet50.safetensors checkpoints/se_resnet50_converted.pth \
#       --from timm --arch seresnet50.ra2_in1k
#   python tools/train.py configs/finetune/se_resnet50_converted_folder.py
#
# Set `num_classes` (below) to the number of class folders.
# The backbone loads the converted file through init_cfg (prefix='backbone.': the
# 1000-class head is left out); the new head learns at ten times the backbone's rate.
# Preprocessing is that of timm's seresnet50.ra2_in1k weights, which tools/convert.py
# keeps in the converted checkpoint (meta['cfg']): 224 px crops, bicubic resizing
# (Pillow), ImageNet mean/std; evaluation resizes the shorter side to 256 (224 / 0.875).
_base_ = [
    '../_base_/models/se_resnet50.py',
    '../_base_/datasets/custom_folder.py',
    '../_base_/default_runtime.py',
]

num_classes = 2
pretrained = 'checkpoints/se_resnet50_converted.pth'
model = dict(
    backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    head=dict(num_classes=num_classes, topk=(1,)),
)
data_preprocessor = dict(num_classes=num_classes)
train_pipeline = [
    dict(type='LoadImageFromFile', imdecode_backend='pillow'),
    dict(type='RandomResizedCrop', scale=224, backend='pillow', interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', imdecode_backend='pillow'),
    dict(type='ResizeEdge', scale=256, edge='short', backend='pillow', interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
tta_pipeline = [*test_pipeline[:-1], _base_.tta_pipeline[-1]]  # flip TTA after these steps

# 20 epochs: 1 of linear warm-up, then cosine; SGD lr 0.01 for 32 images per step
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0001, nesterov=True),
    paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=0.1)}),
)
param_scheduler = [
    dict(
        type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=1, convert_to_iter_based=True
    ),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=1, end=20, eta_min=0.0),
]
train_cfg = dict(by_epoch=True, max_epochs=20, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=32)
default_hooks = dict(checkpoint=dict(max_keep_ckpts=1, save_best='auto'))
