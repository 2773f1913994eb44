# Quick start with Selective Kernels: a narrow SKNet-26 on the embedded MNIST-5k
# digits, with the data, schedule and runtime of the SE-ResNet-18 quick start.
# 3x3 stride-1 stem, four stride-2 stages (14, 7, 4, 2 px), outputs 128-1024,
# SK widths 32-256 (groups=8 x 4 channels), fuse width max(C/16, 16).
# Grouped and dilated convs make a CPU step slower than the SE-ResNet-18's.
_base_ = ['./se_resnet18_mnist5k.py']
model = dict(
    backbone=dict(
        _delete_=True,
        type='se_plugin.SKNet',
        depth=26,
        in_channels=1,
        stem_channels=32,
        base_channels=32,
        strides=(2, 2, 2, 2),
        stem_type='cifar',
        groups=8,
        width_per_group=4,
        num_paths=2,
        sk_ratio=16,
        min_channels=16,
        attn_cfg=None,
        out_indices=(3,),
    ),
    head=dict(in_channels=1024),
)
