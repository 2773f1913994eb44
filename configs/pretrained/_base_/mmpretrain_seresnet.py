# Base of the configs of mmpretrain's SE-ResNets converted by tools/convert.py
# (docs/pretrained.md): SE-ResNet-50 (SE r=16, widths rounded to multiples of 8), ImageNet-1k
# evaluated as mmpretrain's seresnet configs do (imagenet_bs32_pil_resize.py: the shorter
# side resized to 256 by Pillow, bilinear, centre crop 224), the standard schedule.
_base_ = ['./timm_seresnet.py']
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=256, edge='short', backend='pillow'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
