# The MNIST-5k quick start (SE r=4, configs/quickstart/se_resnet18_mnist5k.py) with
# a GC block in the SE slot (attention pooling, add fusion), its
# transform at 1/4 of the width (paper 1/16).
# Reductions scale like the quick start's SE (r=4, not 16) for the narrow widths.
_base_ = ['../se_resnet18_mnist5k.py']
model = dict(
    backbone=dict(attn_cfg=dict(_delete_=True, type='se_plugin.GlobalContext', ratio=1 / 4))
)
