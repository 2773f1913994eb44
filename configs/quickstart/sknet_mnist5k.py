# Quick start with Selective Kernels: a narrow SKNet-26 on the embedded MNIST-5k
# digits, with the data, schedule and runtime of the SE-ResNet-18 quick start.
# CIFAR-style 3x3 stem, outputs 64-512, SK widths 16-128 (groups=4 x 4 channels),
# fuse width max(C/16, 16): about the parameters (0.71M) and FLOPs (30M at
# 28x28) of that SE-ResNet-18 (0.72M, 29M); grouped/dilated convs make a CPU
# step about 3x slower.
_base_ = ['./se_resnet18_mnist5k.py']
model = dict(
    backbone=dict(
        _delete_=True,
        type='se_plugin.SKNet',
        depth=26,
        in_channels=1,
        stem_channels=16,
        base_channels=16,
        stem_type='cifar',
        groups=4,
        width_per_group=4,
        num_paths=2,
        sk_ratio=16,
        min_channels=16,
        se_cfg=None,
        out_indices=(3,),
    ),
    head=dict(in_channels=512),
)
