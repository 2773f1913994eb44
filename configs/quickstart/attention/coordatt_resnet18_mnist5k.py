# The MNIST-5k quick start (SE r=4, configs/quickstart/se_resnet18_mnist5k.py) with
# Coordinate Attention in the SE slot, its shared reduce at r=8
# (paper 32; at least 8 channels).
# Reductions scale like the quick start's SE (r=4, not 16) for the narrow widths.
_base_ = ['../se_resnet18_mnist5k.py']
model = dict(
    backbone=dict(
        attn_cfg=dict(_delete_=True, type='se_plugin.CoordAttention', reduction=8, min_channels=8)
    )
)
