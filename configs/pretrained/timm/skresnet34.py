# timm skresnet34: SK-ResNet (depth 34, SK r=8 L=16, split input).
# Test pipeline: timm's skresnet34.ra_in1k (224 px, crop_pct 0.875, bicubic); weights and top-1:
# docs/pretrained.md.
_base_ = ['../_base_/timm_sknet.py']
model = dict(
    backbone=dict(depth=34, sk_ratio=8, min_channels=16, split_input=True),
    head=dict(in_channels=512),
)
