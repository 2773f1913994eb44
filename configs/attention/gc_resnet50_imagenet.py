# GC-ResNet-50 (GCNet, arXiv 1904.11492): SE-ResNet-50's recipe with a global context block in
# the SE slot: attention pooling, bottleneck transform (r=16) with LayerNorm, fusion by add.
_base_ = ['../se_resnet50_imagenet.py']
model = dict(
    backbone=dict(
        attn_cfg=dict(_delete_=True, type='se_plugin.GlobalContext', ratio=1 / 16, fusion='add')
    )
)
