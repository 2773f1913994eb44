# The no-SE twin of the quick start: the same network with the attention slot empty.
_base_ = ['./se_resnet18_mnist5k.py']
model = dict(backbone=dict(attn_cfg=None))
