# Quick start: a small SE-ResNet-18 on the embedded MNIST-5k digits (2 CPU cores).
_base_ = [
    '../_base_/models/se_resnet_mnist.py',
    '../_base_/datasets/mnist5k.py',
    '../_base_/schedules/mnist5k.py',
    '../_base_/default_runtime.py',
]
default_hooks = dict(logger=dict(interval=20), checkpoint=dict(max_keep_ckpts=1))
# one intra-op thread: measured faster than two for this small model on 2 cores
env_cfg = dict(torch_num_threads=1)
randomness = dict(seed=0)
