# CoordAtt-ResNet-50 (Coordinate Attention, arXiv 2103.02907): SE-ResNet-50's recipe with
# pooling along H and W, a shared 1x1 reduce (r=32, at least 8 channels) and two gates.
_base_ = ['../se_resnet50_imagenet.py']
model = dict(
    backbone=dict(
        attn_cfg=dict(_delete_=True, type='se_plugin.CoordAttention', reduction=32, min_channels=8)
    )
)
