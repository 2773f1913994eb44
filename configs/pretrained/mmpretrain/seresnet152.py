# mmpretrain seresnet152: SE-ResNet (depth 152, SE r=16).
# Test pipeline: mmpretrain's seresnet configs; weights: docs/pretrained.md.
_base_ = ['../_base_/mmpretrain_seresnet.py']
model = dict(backbone=dict(depth=152))
