_base_ = ['../sknet50_imagenet.py']
model = dict(backbone=dict(sk_ratio=8))
