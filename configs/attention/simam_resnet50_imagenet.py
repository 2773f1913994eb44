# SimAM-ResNet-50 (SimAM, ICML 2021): SE-ResNet-50's recipe with the parameter-free
# energy attention (lambda=1e-4) in the SE slot.
_base_ = ['../se_resnet50_imagenet.py']
model = dict(backbone=dict(attn_cfg=dict(_delete_=True, type='se_plugin.SimAM', e_lambda=1e-4)))
