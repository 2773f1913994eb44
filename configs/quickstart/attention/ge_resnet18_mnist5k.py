# The MNIST-5k quick start (SE r=4, configs/quickstart/se_resnet18_mnist5k.py) with
# GE-theta-plus in the SE slot at extent 8, its excite MLP at r=4
# (paper 16).
# Reductions scale like the quick start's SE (r=4, not 16) for the narrow widths.
_base_ = ['../se_resnet18_mnist5k.py']
model = dict(
    backbone=dict(
        attn_cfg=dict(
            _delete_=True, type='se_plugin.GatherExcite', variant='theta-plus', extent=8, ratio=4
        )
    )
)
