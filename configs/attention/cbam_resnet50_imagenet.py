# CBAM-ResNet-50 (arXiv 1807.06521): SE-ResNet-50's recipe with CBAM in the SE slot: channel
# attention from an avg+max pooled MLP (r=16), then spatial attention (7x7 conv + BN).
_base_ = ['../se_resnet50_imagenet.py']
model = dict(
    backbone=dict(
        attn_cfg=dict(_delete_=True, type='se_plugin.CBAM', ratio=16, spatial_kernel_size=7)
    )
)
