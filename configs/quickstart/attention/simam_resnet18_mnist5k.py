# The MNIST-5k quick start (SE r=4, configs/quickstart/se_resnet18_mnist5k.py) with
# SimAM in the SE slot (parameter-free, lambda=1e-4; nothing to scale).
# Reductions scale like the quick start's SE (r=4, not 16) for the narrow widths.
_base_ = ['../se_resnet18_mnist5k.py']
model = dict(backbone=dict(attn_cfg=dict(_delete_=True, type='se_plugin.SimAM')))
