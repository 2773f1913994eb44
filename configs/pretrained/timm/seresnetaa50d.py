# timm seresnetaa50d: SE-ResNet (depth 50, deep stem 32-32-64, avg-pool shortcuts, anti-aliased
#   (2x2 average) downsampling, SE r=16).
# timm publishes no weights for it (your own timm checkpoints).
_base_ = ['../_base_/timm_seresnet.py']
model = dict(backbone=dict(deep_stem=True, stem_channels=64, avg_down=True, anti_alias='avg'))
