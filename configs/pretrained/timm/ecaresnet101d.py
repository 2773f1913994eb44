# timm ecaresnet101d: ECA-ResNet (depth 101, deep stem 32-32-64, avg-pool shortcuts).
# Test pipeline: timm's ecaresnet101d.miil_in1k (224 px, crop_pct 0.875, bicubic); weights and
# top-1: docs/pretrained.md.
_base_ = ['../_base_/timm_seresnet.py']
model = dict(
    backbone=dict(
        depth=101,
        attn_cfg=dict(_delete_=True, type='se_plugin.ECALayer'),
        deep_stem=True,
        stem_channels=64,
        avg_down=True,
    )
)
