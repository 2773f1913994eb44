# RetinaNet with mmdet's own ResNet-50, an SE layer plugged into every bottleneck of
# stages 2-4 after conv3 (mmcv plugin API; mmdet builds se_plugin.SELayer(in_channels=...)).
# The torchvision ResNet-50 weights of the base config still load; the SE layers start
# from their own initialization.
_base_ = 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['se_plugin'], allow_failed_imports=False)
model = dict(
    backbone=dict(
        plugins=[
            dict(
                cfg=dict(type='se_plugin.SELayer', ratio=16),
                stages=(False, True, True, True),
                position='after_conv3',
            )
        ]
    )
)
