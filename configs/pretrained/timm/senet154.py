# timm senet154: SE-ResNeXt (depth 152, 64x4d, deep stem 64-64-128, 3x3 strided shortcuts, first
#   conv at 1/2 width, SE r=16).
# Test pipeline: timm's senet154.gluon_in1k (224 px, crop_pct 0.875, bicubic); weights and top-1:
# docs/pretrained.md.
_base_ = ['../_base_/timm_seresnext.py']
model = dict(
    backbone=dict(
        depth=152, groups=64, deep_stem=True, stem_channels=128, down_kernel_size=3, reduce_first=2
    )
)
