# timm seresnext50_32x4d: SE-ResNeXt (depth 50, 32x4d, SE r=16).
# Test pipeline: timm's seresnext50_32x4d.racm_in1k (224 px, crop_pct 0.875, bicubic); weights and
# top-1: docs/pretrained.md.
_base_ = ['../_base_/timm_seresnext.py']
