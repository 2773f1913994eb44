# timm resnetrs200: SE-ResNet (blocks 3-24-36-3, deep stem 32-32-64, avg-pool shortcuts, strided
#   conv as stem pool, SE r=4).
# Test pipeline: timm's resnetrs200.tf_in1k (256 px, crop_pct 1.0, bicubic); weights and top-1:
# docs/pretrained.md.
_base_ = ['../_base_/timm_resnetrs.py']
model = dict(backbone=dict(stage_blocks=(3, 24, 36, 3)))
