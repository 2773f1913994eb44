# RetinaNet with an SE-ResNeXt-50 (32x4d) backbone (se_plugin) on COCO: mmdet's 1x recipe,
# only the backbone swapped.
_base_ = 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['se_plugin'], allow_failed_imports=False)
model = dict(
    backbone=dict(
        _delete_=True,
        type='se_plugin.SEResNeXt',
        depth=50,
        groups=32,
        width_per_group=4,
        attn_cfg=dict(type='se_plugin.SELayer', ratio=16),
        out_indices=(0, 1, 2, 3),
        frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True,
        style='pytorch',
        # converted ImageNet weights (tools/convert.py --arch seresnext50_32x4d --backbone-only):
        # init_cfg=dict(type='Pretrained', checkpoint='se-resnext50.pth', prefix='backbone.'),
        init_cfg=None,
    ),
    neck=dict(in_channels=[256, 512, 1024, 2048]),
)
