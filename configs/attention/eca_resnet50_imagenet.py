# ECA-ResNet-50 (ECA-Net, arXiv 1910.03151): SE-ResNet-50's recipe with ECA in the SE slot:
# a 1-D conv across channels, kernel from the width (gamma=2, b=1, odd: 5, 5, 5, 7 in stages 1-4).
_base_ = ['../se_resnet50_imagenet.py']
model = dict(backbone=dict(attn_cfg=dict(_delete_=True, type='se_plugin.ECALayer')))
