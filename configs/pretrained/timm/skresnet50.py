# timm skresnet50: SK-ResNet (depth 50, SK r=16 L=8, split input).
# timm publishes no weights for it (your own timm checkpoints).
_base_ = ['../_base_/timm_sknet.py']
model = dict(backbone=dict(min_channels=8, split_input=True, groups=1))
