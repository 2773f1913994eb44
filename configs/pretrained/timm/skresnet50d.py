# timm skresnet50d: SK-ResNet (depth 50, deep stem 32-32-64, avg-pool shortcuts, SK r=16 L=8, split
#   input).
# timm publishes no weights for it (your own timm checkpoints).
_base_ = ['../_base_/timm_sknet.py']
model = dict(
    backbone=dict(
        deep_stem=True, stem_channels=64, avg_down=True, min_channels=8, split_input=True, groups=1
    )
)
