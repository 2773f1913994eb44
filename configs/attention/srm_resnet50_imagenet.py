# SRM-ResNet-50 (SRM, arXiv 1903.10829): SE-ResNet-50's recipe with style pooling (mean, std),
# a channel-wise FC, BN and a sigmoid gate in the SE slot.
_base_ = ['../se_resnet50_imagenet.py']
model = dict(backbone=dict(attn_cfg=dict(_delete_=True, type='se_plugin.SRMLayer')))
