_base_ = ['../se_resnet50_imagenet.py']
model = dict(backbone=dict(se_position='pre'))
