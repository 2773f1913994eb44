# mmpretrain's SE-ResNeXt models: mmpretrain_seresnet.py with grouped 3x3 convs (32x4d).
_base_ = ['./mmpretrain_seresnet.py']
model = dict(backbone=dict(type='se_plugin.SEResNeXt', groups=32, width_per_group=4))
