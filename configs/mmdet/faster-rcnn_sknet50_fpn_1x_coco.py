# Faster R-CNN with an SKNet-50 backbone (se_plugin; SK[M=2, G=32, r=16], L=32) on COCO:
# mmdet's 1x recipe, only the backbone swapped.
_base_ = 'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['se_plugin'], allow_failed_imports=False)
model = dict(
    backbone=dict(
        _delete_=True,
        type='se_plugin.SKNet',
        depth=50,
        num_paths=2,
        groups=32,
        width_per_group=4,
        out_indices=(0, 1, 2, 3),
        frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True,
        style='pytorch',
        # converted ImageNet weights (tools/convert.py --from timm --arch skresnext50_32x4d
        # --backbone-only):
        # init_cfg=dict(type='Pretrained', checkpoint='sknet50.pth', prefix='backbone.'),
        init_cfg=None,
    ),
    neck=dict(in_channels=[256, 512, 1024, 2048]),
)
