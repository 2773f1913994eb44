_base_ = ['../sknet50_imagenet.py']
model = dict(backbone=dict(num_paths=3))
