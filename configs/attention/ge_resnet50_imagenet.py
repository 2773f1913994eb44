# GE-ResNet-50 (Gather-Excite, arXiv 1810.12348): SE-ResNet-50's recipe with GE-theta-plus
# (depthwise gather + excite MLP), global extent: the paper's best ResNet-50 variant.
_base_ = ['../se_resnet50_imagenet.py']
model = dict(backbone=dict(se_cfg=dict(_delete_=True, type='se_plugin.GatherExcite')))
