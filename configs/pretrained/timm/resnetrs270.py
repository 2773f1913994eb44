# timm resnetrs270: SE-ResNet (blocks 4-29-53-4, deep stem 32-32-64, avg-pool shortcuts, strided
#   conv as stem pool, SE r=4).
# Test pipeline: timm's resnetrs270.tf_in1k (256 px, crop_pct 1.0, bicubic); weights and top-1:
# docs/pretrained.md.
_base_ = ['../_base_/timm_resnetrs.py']
model = dict(backbone=dict(stage_blocks=(4, 29, 53, 4)))
