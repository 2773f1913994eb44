# timm seresnet18: SE-ResNet (depth 18, SE r=16).
# timm publishes no weights for it (your own timm checkpoints).
_base_ = ['../_base_/timm_seresnet.py']
model = dict(backbone=dict(depth=18), head=dict(in_channels=512))
