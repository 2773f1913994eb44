# ECA-ResNet-50-D, as timm's ecaresnet50d: ECA-ResNet-50 with the ResNet-D stem (three 3x3
# convs, 32-32-64) and average-pool downsampling shortcuts (arXiv 1812.01187).
_base_ = ['./eca_resnet50_imagenet.py']
model = dict(backbone=dict(deep_stem=True, avg_down=True, stem_channels=64))
