# RetinaNet with an SE-ResNet-50 backbone (se_plugin) on COCO: mmdet's own 1x recipe,
# only the backbone swapped. Needs mmdet 3.3 with full mmcv (see docs/mmdet_mmseg.md);
# train with mmdet's tools/train.py.
_base_ = 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['se_plugin'], allow_failed_imports=False)
model = dict(
    backbone=dict(
        _delete_=True,  # drop mmdet ResNet's arguments (and its torchvision weights)
        type='se_plugin.SEResNet',
        depth=50,
        attn_cfg=dict(type='se_plugin.SELayer', ratio=16),
        out_indices=(0, 1, 2, 3),
        frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True,
        style='pytorch',
        # ImageNet weights: convert timm's or mmpretrain's SE-ResNet-50 with
        # `python tools/convert.py SRC se-resnet50.pth --from timm --arch seresnet50
        # --backbone-only` (docs/pretrained.md), then:
        # init_cfg=dict(type='Pretrained', checkpoint='se-resnet50.pth', prefix='backbone.'),
        init_cfg=None,
    ),
    # SE-ResNet-50 stages give 256, 512, 1024, 2048 channels
    neck=dict(in_channels=[256, 512, 1024, 2048]),
)
