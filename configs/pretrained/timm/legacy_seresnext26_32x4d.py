# timm legacy_seresnext26_32x4d: SE-ResNeXt (blocks 2-2-2-2, 32x4d, Caffe's stem max pool, SE r=16
#   width C // 16).
# Test pipeline: timm's legacy_seresnext26_32x4d.in1k (224 px, crop_pct 0.875, bicubic); weights
# and top-1: docs/pretrained.md.
_base_ = ['../_base_/timm_seresnext.py']
model = dict(
    backbone=dict(attn_cfg=dict(divisor=1), stage_blocks=(2, 2, 2, 2), stem_pool='max_ceil')
)
