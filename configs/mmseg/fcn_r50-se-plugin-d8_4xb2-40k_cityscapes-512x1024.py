# FCN with mmseg's own ResNet-50-V1c, an SE layer plugged into every bottleneck of stages
# 2-4 after conv3 (mmcv plugin API). One plugin per position: mmseg 1.2.2 feeds every
# plugin of a position the block's input, not the previous plugin's output, so chained
# plugins do not compose there (they do in mmdet).
_base_ = 'mmseg::fcn/fcn_r50-d8_4xb2-40k_cityscapes-512x1024.py'
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
