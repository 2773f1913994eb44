_base_ = ['./sknet50_imagenet.py']
model = dict(backbone=dict(depth=101))
