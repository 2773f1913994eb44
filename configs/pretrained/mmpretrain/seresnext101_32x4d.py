# mmpretrain seresnext101_32x4d: SE-ResNeXt (depth 101, 32x4d, SE r=16).
# Test pipeline: mmpretrain's seresnet configs; weights: docs/pretrained.md.
_base_ = ['../_base_/mmpretrain_seresnext.py']
model = dict(backbone=dict(depth=101))
