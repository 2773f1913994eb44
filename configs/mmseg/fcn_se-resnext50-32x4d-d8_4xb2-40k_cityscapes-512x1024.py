# FCN (output stride 8: dilated stages 3-4) with an SE-ResNeXt-50 (32x4d) backbone
# (se_plugin) on Cityscapes: mmseg's own recipe, only the backbone swapped.
_base_ = 'mmseg::fcn/fcn_r50-d8_4xb2-40k_cityscapes-512x1024.py'
custom_imports = dict(imports=['se_plugin'], allow_failed_imports=False)
norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='se_plugin.SEResNeXt',
        depth=50,
        groups=32,
        width_per_group=4,
        attn_cfg=dict(type='se_plugin.SELayer', ratio=16),
        out_indices=(0, 1, 2, 3),
        strides=(1, 2, 1, 1),
        dilations=(1, 1, 2, 4),
        norm_cfg=norm_cfg,
        norm_eval=False,
        style='pytorch',
        init_cfg=None,
    ),
    # FCN reads stage 4 (2048 channels), its auxiliary head stage 3 (1024)
    decode_head=dict(in_channels=2048, in_index=3),
    auxiliary_head=dict(in_channels=1024, in_index=2),
)
