# The MNIST-5k quick start with a type-only attention slot, each module at its own (the
# paper's) defaults: the base of one sweep over the attention type,
# `tools/ablate.py ... --sweep model.backbone.attn_cfg.type=se_plugin.SELayer,...` (a type
# swept on the quick start itself would keep SE's ratio=4, which the other modules refuse).
_base_ = ['../se_resnet18_mnist5k.py']
model = dict(backbone=dict(attn_cfg=dict(_delete_=True, type='se_plugin.SELayer')))
