# timm's SE-ResNeXt models: timm_seresnet.py with grouped 3x3 convs (32x4d).
_base_ = ['./timm_seresnet.py']
model = dict(backbone=dict(type='se_plugin.SEResNeXt', groups=32, width_per_group=4))
