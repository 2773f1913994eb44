# The standard SENet/ResNet ImageNet recipe: 8 GPUs x 32 images = 256 per step,
# SGD lr 0.1 (momentum 0.9, weight decay 1e-4), 100 epochs, lr / 10 every 30 epochs.
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=0.0001),
)
param_scheduler = dict(type='MultiStepLR', by_epoch=True, milestones=[30, 60, 90], gamma=0.1)
train_cfg = dict(by_epoch=True, max_epochs=100, val_interval=1)
val_cfg = dict()
test_cfg = dict()
# lr is scaled linearly when the real batch differs (--auto-scale-lr).
auto_scale_lr = dict(base_batch_size=256)
