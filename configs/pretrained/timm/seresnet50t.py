# timm seresnet50t: SE-ResNet (depth 50, tiered deep stem 24-32-64, avg-pool shortcuts, SE r=16).
# timm publishes no weights for it (your own timm checkpoints).
_base_ = ['../_base_/timm_seresnet.py']
model = dict(
    backbone=dict(deep_stem=True, stem_channels=64, deep_stem_channels=(24, 32, 64), avg_down=True)
)
