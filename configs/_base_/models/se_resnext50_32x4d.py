# SE-ResNeXt-50 (32x4d) (SENet, arXiv 1709.01507).
_base_ = ['./se_resnet50.py']
model = dict(backbone=dict(type='se_plugin.SEResNeXt', groups=32, width_per_group=4))
