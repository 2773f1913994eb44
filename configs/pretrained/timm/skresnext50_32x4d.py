# timm skresnext50_32x4d: SK-ResNeXt (depth 50, 32x4d, SK r=16 L=32).
# Test pipeline: timm's skresnext50_32x4d.ra_in1k (224 px, crop_pct 0.875, bicubic); weights and
# top-1: docs/pretrained.md.
_base_ = ['../_base_/timm_sknet.py']
model = dict(backbone=dict(groups=32, width_per_group=4))
