# timm seresnext26d_32x4d: SE-ResNeXt (blocks 2-2-2-2, 32x4d, deep stem 32-32-64, avg-pool
#   shortcuts, SE r=16).
# Test pipeline: timm's seresnext26d_32x4d.bt_in1k (224 px, crop_pct 0.875, bicubic); weights and
# top-1: docs/pretrained.md.
_base_ = ['../_base_/timm_seresnext.py']
model = dict(
    backbone=dict(stage_blocks=(2, 2, 2, 2), deep_stem=True, stem_channels=64, avg_down=True)
)
