# Your own images, one folder per class (mmpretrain's CustomDataset; the classes are the
# folder names, sorted):
#   data/custom/train/<class>/*.jpg|png|...   training images
#   data/custom/val/<class>/*.jpg|png|...     validation images (the same class folders)
# ImageNet's augmentation, normalisation and flip TTA (imagenet_bs32.py); set num_classes
# in the data preprocessor and the model's head to the number of class folders.
_base_ = ['./imagenet_bs32.py']

dataset_type = 'CustomDataset'
data_root = 'data/custom'
data_preprocessor = dict(num_classes=2)
train_dataloader = dict(
    num_workers=2,
    dataset=dict(
        _delete_=True,
        type=dataset_type,
        data_root=data_root,
        data_prefix='train',
        pipeline=_base_.train_pipeline,
    ),
)
val_dataloader = dict(
    num_workers=2,
    dataset=dict(
        _delete_=True,
        type=dataset_type,
        data_root=data_root,
        data_prefix='val',
        pipeline=_base_.test_pipeline,
    ),
)
val_evaluator = dict(topk=(1,))
test_dataloader = val_dataloader
test_evaluator = val_evaluator
