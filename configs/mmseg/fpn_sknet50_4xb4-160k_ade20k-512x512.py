# Semantic FPN with an SKNet-50 backbone (se_plugin) on ADE20K: mmseg's own recipe, only
# the backbone swapped.
_base_ = 'mmseg::sem_fpn/fpn_r50_4xb4-160k_ade20k-512x512.py'
custom_imports = dict(imports=['se_plugin'], allow_failed_imports=False)
norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='se_plugin.SKNet',
        depth=50,
        out_indices=(0, 1, 2, 3),
        norm_cfg=norm_cfg,
        norm_eval=False,
        style='pytorch',
        init_cfg=None,
    ),
    neck=dict(in_channels=[256, 512, 1024, 2048]),
)
