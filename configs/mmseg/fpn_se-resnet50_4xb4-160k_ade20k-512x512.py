# Semantic FPN with an SE-ResNet-50 backbone (se_plugin) on ADE20K: mmseg's own recipe,
# only the backbone swapped. Needs mmsegmentation 1.2 with full mmcv (see
# docs/mmdet_mmseg.md); train with mmseg's tools/train.py.
_base_ = 'mmseg::sem_fpn/fpn_r50_4xb4-160k_ade20k-512x512.py'
custom_imports = dict(imports=['se_plugin'], allow_failed_imports=False)
norm_cfg = dict(type='SyncBN', requires_grad=True)  # as mmseg's; BN on one device
model = dict(
    pretrained=None,  # mmseg's ResNet-V1c weights do not fit
    backbone=dict(
        _delete_=True,
        type='se_plugin.SEResNet',
        depth=50,
        attn_cfg=dict(type='se_plugin.SELayer', ratio=16),
        out_indices=(0, 1, 2, 3),
        norm_cfg=norm_cfg,
        norm_eval=False,
        style='pytorch',
        # converted ImageNet weights (tools/convert.py ... --backbone-only):
        # init_cfg=dict(type='Pretrained', checkpoint='se-resnet50.pth', prefix='backbone.'),
        init_cfg=None,
    ),
    neck=dict(in_channels=[256, 512, 1024, 2048]),
)
