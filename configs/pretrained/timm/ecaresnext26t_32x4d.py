# timm ecaresnext26t_32x4d: ECA-ResNeXt (blocks 2-2-2-2, 32x4d, tiered deep stem 24-32-64, avg-pool
#   shortcuts).
# timm publishes no weights for it (your own timm checkpoints).
_base_ = ['../_base_/timm_seresnext.py']
model = dict(
    backbone=dict(
        attn_cfg=dict(_delete_=True, type='se_plugin.ECALayer'),
        stage_blocks=(2, 2, 2, 2),
        deep_stem=True,
        stem_channels=64,
        deep_stem_channels=(24, 32, 64),
        avg_down=True,
    )
)
