# timm seresnext101_32x4d: SE-ResNeXt (depth 101, 32x4d, SE r=16).
# Test pipeline: timm's seresnext101_32x4d.gluon_in1k (224 px, crop_pct 0.875, bicubic); weights
# and top-1: docs/pretrained.md.
_base_ = ['../_base_/timm_seresnext.py']
model = dict(backbone=dict(depth=101))
