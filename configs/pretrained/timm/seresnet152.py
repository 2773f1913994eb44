# timm seresnet152: SE-ResNet (depth 152, SE r=16).
# timm publishes no weights for it (your own timm checkpoints).
_base_ = ['../_base_/timm_seresnet.py']
model = dict(backbone=dict(depth=152))
