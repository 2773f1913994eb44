# eSE-ResNet-50 (effective SE, CenterMask arXiv 1911.06667): SE-ResNet-50's recipe with one
# full-width 1x1 conv and a hard-sigmoid gate in the SE slot.
_base_ = ['../se_resnet50_imagenet.py']
model = dict(backbone=dict(attn_cfg=dict(_delete_=True, type='se_plugin.EffectiveSELayer')))
