# mmpretrain seresnet50: SE-ResNet (depth 50, SE r=16).
# Test pipeline: mmpretrain's seresnet configs; weights: docs/pretrained.md.
_base_ = ['../_base_/mmpretrain_seresnet.py']
