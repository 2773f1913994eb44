# Fine-tune converted ImageNet SE-ResNet-50 weights (timm or mmpretrain, see
# docs/pretrained.md) on the embedded MNIST-5k digits, with a new 10-class head.
#
#   python tools/convert.py seresnet50.safetensors checkpoints/se_resnet50_converted.pth \
#       --from timm --arch seresnet50
#   python tools/train.py configs/finetune/se_resnet50_converted_mnist5k.py
#
# The backbone loads the converted file through init_cfg (prefix='backbone.': only the
# backbone weights, the 1000-class head is ignored). Another file:
#   --cfg-options model.backbone.init_cfg.checkpoint=/path/to/converted.pth
# Alternatively, `load_from = '/path/to/converted.pth'` (with model.backbone.init_cfg=None)
# loads the whole model; mmengine then skips the mis-sized 1000-class head with a warning.
_base_ = [
    '../_base_/models/se_resnet50.py',
    '../_base_/datasets/mnist5k.py',
    '../_base_/default_runtime.py',
]
pretrained = 'checkpoints/se_resnet50_converted.pth'
model = dict(
    backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    head=dict(num_classes=10, topk=(1,)),
)

# MNIST is 28x28 grey; the pretrained stem expects ImageNet-normalised RGB at a size where
# the 32x downsampling leaves a feature map: resize to 64 px, and give the preprocessor the
# three ImageNet means/stds. Broadcasting the one grey channel against them makes each
# image the grey image repeated as R, G and B, normalised per channel as in pretraining.
data_preprocessor = dict(
    num_classes=10,
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=False,
)
train_pipeline = [
    dict(type='Resize', scale=(64, 64)),
    dict(type='RandomCrop', crop_size=64, padding=4),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='Resize', scale=(64, 64)),
    dict(type='PackInputs'),
]
# tools/test.py --tta: the dataset base's views (the digit and its 1/28 shifts) at 64 px
tta_pipeline = [test_pipeline[0], *_base_.tta_pipeline]
train_dataloader = dict(batch_size=32, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=100, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

# Short fine-tuning schedule: 1 warm-up epoch, then cosine; the pretrained backbone
# learns at a tenth of the new head's rate.
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0001, nesterov=True),
    paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=0.1)}),
)
param_scheduler = [
    dict(
        type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=1, convert_to_iter_based=True
    ),
    dict(
        type='CosineAnnealingLR',
        by_epoch=True,
        begin=1,
        end=3,
        eta_min=0.0,
        convert_to_iter_based=True,
    ),
]
train_cfg = dict(by_epoch=True, max_epochs=3, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=32)
default_hooks = dict(logger=dict(interval=20), checkpoint=dict(max_keep_ckpts=1))
randomness = dict(seed=0)
