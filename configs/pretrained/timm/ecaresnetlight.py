# timm ecaresnetlight: ECA-ResNet (blocks 1-1-11-3, avg-pool shortcuts).
# Test pipeline: timm's ecaresnetlight.miil_in1k (224 px, crop_pct 0.875, bicubic); weights and
# top-1: docs/pretrained.md.
_base_ = ['../_base_/timm_seresnet.py']
model = dict(
    backbone=dict(
        attn_cfg=dict(_delete_=True, type='se_plugin.ECALayer'),
        stage_blocks=(1, 1, 11, 3),
        avg_down=True,
    )
)
