# ECA-ResNet-101-D, as timm's ecaresnet101d.
_base_ = ['./eca_resnet50d_imagenet.py']
model = dict(backbone=dict(depth=101))
