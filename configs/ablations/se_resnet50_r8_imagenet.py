_base_ = ['../se_resnet50_imagenet.py']
model = dict(backbone=dict(attn_cfg=dict(ratio=8)))
